from aiedge.cli.main import main

main()

from aiedge.cli.entry import main

main()

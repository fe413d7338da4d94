"""REST transports: decode, call the data plane, encode. Each owns nothing else."""

"""debugfs (fs/debugfs/): attribute files and the modules that put files in /sys/kernel/debug."""

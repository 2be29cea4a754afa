"""debugfs (fs/debugfs/): attribute files and the modules that create files below /sys/kernel/debug."""

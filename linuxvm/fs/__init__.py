"""Filesystems the model exposes: /proc, /sys and debugfs renderers."""

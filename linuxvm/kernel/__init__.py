"""Core kernel pieces the memory manager talks to: tasks, fork/exit/exec, printk, sysctl."""

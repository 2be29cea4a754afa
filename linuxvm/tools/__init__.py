"""Tools that drive the whole model from outside: the syzkaller-style soak (``soak``)."""

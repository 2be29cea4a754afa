"""(grows as features land)"""

"""The model's own kernel objects drive /proc/slabinfo: 100 processes mapping 50 regions
each move the vm_area_struct, mm_struct and task_struct lines up, and exiting them (plus
a shrink) brings them back."""


import linuxvm as lv


def active_and_slabs(m, name):
    for line in m.proc.read("/proc/slabinfo").splitlines():
        f = line.split()
        if f[0] == name:
            return int(f[1]), int(f[14])
    raise AssertionError(name)


def test_spawn_100_processes_50_regions():
    m = lv.Machine(ram="1G", cpus=2, seed=0)
    names = ("vm_area_struct", "mm_struct", "task_struct")
    before = {n: active_and_slabs(m, n) for n in names}
    procs = []
    for i in range(100):
        p = m.spawn(f"w{i}")
        for j in range(50):
            # alternate protections so that neighbouring regions never merge
            prot = lv.PROT_READ if j % 2 else lv.PROT_READ | lv.PROT_WRITE
            p.mmap(None, 4096, prot, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
        procs.append(p)
        if i % 25 == 0:
            m.check()
    up = {n: active_and_slabs(m, n) for n in names}
    assert up["vm_area_struct"][0] >= before["vm_area_struct"][0] + 100 * 50
    assert up["mm_struct"][0] >= before["mm_struct"][0] + 100
    assert up["task_struct"][0] >= before["task_struct"][0] + 100
    for p in procs:
        p.exit()
    m.check()
    down = {n: active_and_slabs(m, n) for n in names}
    assert down["vm_area_struct"][1] < up["vm_area_struct"][1]
    m.slab.shrink_all()
    m.check()
    # what remains is what the exited tasks still pin (zombies keep their task_struct
    # until reaped, a CPU in lazy TLB mode keeps the last mm as active_mm until its next
    # switch); every VMA is gone
    assert active_and_slabs(m, "vm_area_struct") == before["vm_area_struct"]
    assert active_and_slabs(m, "mm_struct")[0] <= before["mm_struct"][0] + m.nr_cpus

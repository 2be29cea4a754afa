"""User-mode memory accesses as the CPU performs them: TLB, page walk, #PF, the fault
handler, and the retried instruction.

``user_access(m, task, va, access)`` runs the task on its CPU, translates ``va``
for a user read, write or instruction fetch, and on a page fault calls
``__do_page_fault`` and retries, as re-executing the faulting instruction does.
Data written through ``write_user`` lands in the frame's bytes
(``m.page_contents``); every write also gives the frame a fresh content tag.
``touch`` has three accelerators: ``touch_write`` (the first write of a plain anonymous
page taken inline) and ``touch_bulk`` (runs of never-touched pages faulted up to a 2 MiB
chunk at a time) in linuxvm/accel/uaccess.py, and ``touch_file_read`` (read faults of
cached file pages, fault-around windows and all, a PTE table at a time) in
linuxvm/accel/uaccess_filemap.py. ``access_batch`` (a recorded trace's accesses in order)
has one: ``access_batch`` in linuxvm/accel/uaccess_trace.py.
"""

from ...errors import KernelBug
from ...mm.memory import next_content_tag
from .cpu import context_switch
from .fault import __do_page_fault, bad_area
from .mmu import translate_user, GeneralProtection, PF_WRITE, PF_USER, PF_INSTR
from .page_types import PAGE_SHIFT, PAGE_SIZE

ACCESS = {"r": PF_USER, "w": PF_USER | PF_WRITE, "x": PF_USER | PF_INSTR}
_ACCESS_R = ACCESS["r"]
_ACCESS_W = ACCESS["w"]
MAX_RETRIES = 8


def run_on_cpu(m, task) -> object:
    """Make ``task`` the running task of its CPU (a context switch when needed). A task
    whose ``cpu`` was changed while it was running elsewhere migrates: its old CPU
    switches to idle first (keeping the mm lazily, as the scheduler leaves it)."""
    cpu = m.cpus[task.cpu]
    if cpu.current is not task:
        for old in m.cpus:
            if old.current is task:
                m.current_cpu = old.cpu
                context_switch(m, old, task, None)
                break
        m.current_cpu = cpu.cpu
        context_switch(m, cpu, cpu.current, task)
    else:
        m.current_cpu = cpu.cpu
    m.current = task
    return cpu


def user_access(m, task, va: int, access: int) -> int:
    """Physical address of a user access to ``va``, faulting pages in as needed.

    Accelerator: ``user_access`` in linuxvm/accel/uaccess_one.py (a TLB miss, and a first
    touch or COW break of a plain anonymous page, inline); it returns -1, having changed
    nothing, for an access it hands back.

    :raises SegmentationFault: the kernel answers the access with SIGSEGV
    :raises BusError: … with SIGBUS
    """
    fast = m.accel.user_access
    if fast is not None:
        phys = fast(m, task, va, access)
        if phys >= 0:
            return phys
    cpu = run_on_cpu(m, task)
    for _ in range(MAX_RETRIES):
        try:
            phys = translate_user(cpu, va, access)
        except GeneralProtection:
            # a non-canonical address: #GP, which the kernel turns into SIGSEGV
            bad_area(m, task, 0, va, 0)
        if phys >= 0:
            return phys
        __do_page_fault(m, task, task.sp, ~phys, va)
    raise KernelBug(f"access to {va:#x} still faults after {MAX_RETRIES} retries")


def _tag(m, pfn: int) -> None:
    m.mem_map.contv[pfn] = next_content_tag(m)


def touch(m, task, addr: int, length: int, write: bool = False, bulk: bool = False) -> None:
    """One access per page of [addr, addr+length), as a loop touching each page would.

    Accelerators: ``touch_file_read`` (linuxvm/accel/uaccess_filemap.py) for a read when
    ``bulk`` is asked for (cached file pages faulted a PTE table at a time; other VMAs it
    hands to ``touch_bulk``); ``touch_bulk`` (linuxvm/accel/uaccess.py) when ``bulk`` is
    asked for; else ``touch_write`` for a write over more than one page (one page pays
    more for its set-up than it can win, so a range within one page takes none of them).
    """
    # one page: one access of the per-access path; the accelerators' set-up (a TLB
    # snapshot, a table walk) costs more than one access can win
    if length and (addr ^ (addr + length - 1)) >> PAGE_SHIFT == 0:
        if write:
            _tag(m, user_access(m, task, addr, _ACCESS_W) >> PAGE_SHIFT)
        else:
            user_access(m, task, addr, _ACCESS_R)
        return
    accel = m.accel
    if bulk and not write and accel.touch_file_read is not None:
        accel.touch_file_read(m, task, addr, length)
        return
    if bulk and accel.touch_bulk is not None:
        accel.touch_bulk(m, task, addr, length, write)
        return
    if write and length > PAGE_SIZE and accel.touch_write is not None:
        accel.touch_write(m, task, addr, length)
        return
    access = ACCESS["w" if write else "r"]
    end = addr + length
    va = addr
    while va < end:
        phys = user_access(m, task, va, access)
        if write:
            _tag(m, phys >> PAGE_SHIFT)
        va = (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE


def read_user(m, task, addr: int, n: int) -> bytes:
    out = bytearray()
    va = addr
    end = addr + n
    while va < end:
        chunk = min(end, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE) - va
        phys = user_access(m, task, va, ACCESS["r"])
        pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
        data = m.page_contents.get(pfn)
        out += data[off:off + chunk] if data is not None else bytes(chunk)
        va += chunk
    return bytes(out)


def write_user(m, task, addr: int, data: bytes) -> None:
    va = addr
    pos = 0
    n = len(data)
    while pos < n:
        chunk = min(n - pos, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE - va)
        phys = user_access(m, task, va, ACCESS["w"])
        pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
        buf = m.page_contents.get(pfn)
        if buf is None:
            buf = m.page_contents[pfn] = bytearray(PAGE_SIZE)
        buf[off:off + chunk] = data[pos:pos + chunk]
        _tag(m, pfn)
        pos += chunk
        va += chunk


def access(m, task, addr: int, kind: str) -> int:
    """One access of kind "r", "w" or "x"; returns the physical address."""
    code = ACCESS.get(kind)
    if code is None:
        raise ValueError(f"access kind must be 'r', 'w' or 'x', not {kind!r}")
    phys = user_access(m, task, addr, code)
    if code & PF_WRITE:
        _tag(m, phys >> PAGE_SHIFT)
    return phys


def access_batch(m, task, addrs, kinds: str) -> None:
    """One access per entry, in order: ``access(m, task, addrs[i], kinds[i])`` for each, as
    the CPU makes a recorded trace's loads, stores and instruction fetches.

    Accelerator: ``access_batch`` in linuxvm/accel/uaccess_trace.py (TLB hits resolved
    inline, the content tags of writes kept back and stored once).
    """
    fast = m.accel.access_batch
    if fast is not None:
        return fast(m, task, addrs, kinds)
    for va, kind in zip(addrs, kinds):
        access(m, task, va, kind)

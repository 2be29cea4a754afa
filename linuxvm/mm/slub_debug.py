"""SLUB debugging (CONFIG_SLUB_DEBUG, enabled per cache by slub_debug=): red zones,
poisoning, alloc/free tracking, consistency checks and the "BUG <cache>" reports
(mm/slub.c). Every check reads the object bytes in ``m.page_contents``; a detected
corruption is reported, repaired as the kernel repairs it, and never raises.
"""

import struct

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, VMEMMAP_START
from ..errors import KernelBug
from ..mm.page import PG_slab
from . import slub_def as D
from ..include.jiffies import jiffies
from .slab_common import (SLAB_RED_ZONE, SLAB_POISON, SLAB_STORE_USER, SLAB_TRACE,
                          SLAB_CONSISTENCY_CHECKS, __OBJECT_POISON)

SLUB_RED_INACTIVE = 0xBB
SLUB_RED_ACTIVE = 0xCC
POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
TRACK_ALLOC, TRACK_FREE = 0, 1
_TRACK = struct.Struct("<Q128xiiQ")          # addr, addrs[16] (not recorded), cpu, pid, when
KSYM_BASE = 0xFFFFFFFF81000000


def _p(addr: int) -> str:
    """%p of a kernel pointer in 4.6 (raw, 16 digits; NULL prints as (null))."""
    return f"{addr:016x}" if addr else "          (null)"


def _log(s):
    return s.sl.m.log


def ksym_addr(sl, name: str) -> int:
    """A stable fake text address for a model function name (kept in struct track)."""
    syms = sl.__dict__.setdefault("_ksyms", {}) if hasattr(sl, "__dict__") else {}
    if name not in syms:
        syms[name] = KSYM_BASE + 0x100 * (len(syms) + 1)
    return syms[name]


def ksym_name(sl, addr: int) -> str:
    for name, a in getattr(sl, "_ksyms", {}).items():
        if a == addr:
            return name
    return f"0x{addr:x}"


def for_each_object(s, page: int):
    objects = D.unpack_counters(s.sl.mm.mc[page])[1]
    start = D.page_address(page) + s.red_left_pad
    return [start + i * s.size for i in range(objects)]


def size_from_object(s) -> int:
    return s.size - s.red_left_pad if s.flags & SLAB_RED_ZONE else s.size


def check_valid_pointer(s, page: int, obj: int) -> bool:
    """Whether ``obj`` is 0 or the start of one of ``page``'s objects (mm/slub.c)."""
    if not obj:
        return True
    # red_left_pad is 0 without SLAB_RED_ZONE; page->objects is bits 16-30 of counters
    rel = obj - s.red_left_pad - PAGE_OFFSET - (page << PAGE_SHIFT)
    size = s.size
    return 0 <= rel < ((s.sl.mm.mc[page] >> 16) & 0x7FFF) * size and not rel % size


def freelist_bug(s, page: int, obj: int) -> KernelBug:
    """The KernelBug for taking ``obj`` off a freelist of ``page`` when it is not an object
    of that slab (a write after free or an overflow replaced a free pointer).

    4.6 without slub_debug reads the free pointer at ``obj``: an unmapped or non-canonical
    address oopses there (the message is the oops line); memory that is mapped would be
    handed out as an object, which the model cannot follow, so it reports the corruption
    as SLUB's consistency checks word it ("Freepointer corrupt"). Nothing is changed: the
    taint and the report go into the exception only.
    """
    addr = (obj + s.offset) & 0xFFFFFFFFFFFFFFFF
    m = s.sl.m
    mm = s.sl.mm
    if addr >> 47 not in (0, 0x1FFFF):
        return KernelBug("general protection fault: 0000 [#1] SMP")
    if addr < PAGE_SIZE:
        return KernelBug(f"BUG: unable to handle kernel NULL pointer dereference at "
                         f"{addr:016x}")
    pfn = (addr - PAGE_OFFSET) >> 12
    if not (addr >= PAGE_OFFSET and m.pfn_valid(pfn)):
        return KernelBug(f"BUG: unable to handle kernel paging request at {addr:016x}")
    inuse, objects, _ = D.unpack_counters(mm.mc[page])
    return KernelBug("\n".join([
        "=" * 77, f"BUG {s.name} ({m.taint_string()}): Freepointer corrupt", "-" * 77, "",
        f"INFO: Slab 0x{VMEMMAP_START + page * 64:016x} objects={objects} used={inuse} "
        f"fp=0x{_p(D.page_freelist(mm, page))} flags=0x{int(mm.f[page]):04x}",
        f"INFO: Freelist entry 0x{_p(obj)} is not an object of this slab (written after "
        f"it was freed?)"]))


def _rd(s, addr, n):
    return D.read_bytes(s.sl.pc, addr, n)


def print_section(s, text: str, addr: int, length: int) -> None:
    """print_hex_dump(KERN_ERR, text, DUMP_PREFIX_ADDRESS, 16, 1, addr, length, 1)."""
    data = _rd(s, addr, length)
    log = _log(s)
    for i in range(0, length, 16):
        row = data[i:i + 16]
        hexpart = " ".join(f"{b:02x}" for b in row)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        log.pr_err(f"{text}{addr + i:016x}: {hexpart:<49}{asc}")


def get_track_addr(s, obj: int, which: int) -> int:
    base = obj + s.offset + 8 if s.offset else obj + s.inuse
    return base + which * D.TRACK_SIZE


def set_track(s, obj: int, which: int, caller, cpu: int = 0) -> None:
    a = get_track_addr(s, obj, which)
    if caller:
        m = s.sl.m
        data = _TRACK.pack(ksym_addr(s.sl, caller), cpu, m.current_pid(), jiffies(m))
    else:
        data = bytes(D.TRACK_SIZE)
    D.write_bytes(s.sl.pc, a, data)


def init_tracking(s, obj: int) -> None:
    if not s.flags & SLAB_STORE_USER:
        return
    set_track(s, obj, TRACK_FREE, None)
    set_track(s, obj, TRACK_ALLOC, None)


def print_track(s, what: str, obj: int, which: int) -> None:
    addr, cpu, pid, when = _TRACK.unpack(_rd(s, get_track_addr(s, obj, which), D.TRACK_SIZE))
    if not addr:
        return
    age = (jiffies(s.sl.m) - when) & 0xFFFFFFFFFFFFFFFF
    _log(s).pr_err(f"INFO: {what} in {ksym_name(s.sl, addr)} age={age} cpu={cpu} pid={pid}")


def print_tracking(s, obj: int) -> None:
    if not s.flags & SLAB_STORE_USER:
        return
    print_track(s, "Allocated", obj, TRACK_ALLOC)
    print_track(s, "Freed", obj, TRACK_FREE)


def print_page_info(s, page: int) -> None:
    mm = s.sl.mm
    inuse, objects, _ = D.unpack_counters(mm.mc[page])
    _log(s).pr_err(f"INFO: Slab 0x{VMEMMAP_START + page * 64:016x} objects={objects} "
                   f"used={inuse} fp=0x{_p(D.page_freelist(mm, page))} flags=0x{int(mm.f[page]):04x}")


def slab_bug(s, msg: str) -> None:
    log = _log(s)
    m = s.sl.m
    log.pr_err("=" * 77)
    log.pr_err(f"BUG {s.name} ({m.taint_string()}): {msg}")
    log.pr_err("-" * 77)
    log.pr_err("")
    m.add_taint("B")


def slab_fix(s, msg: str) -> None:
    _log(s).pr_err(f"FIX {s.name}: {msg}")


def print_trailer(s, page: int, p: int) -> None:
    addr = D.page_address(page)
    print_tracking(s, p)
    print_page_info(s, page)
    log = _log(s)
    log.pr_err(f"INFO: Object 0x{_p(p)} @offset={p - addr} fp=0x{_p(D.get_freepointer(s, p))}")
    log.pr_err("")
    if s.flags & SLAB_RED_ZONE:
        print_section(s, "Redzone ", p - s.red_left_pad, s.red_left_pad)
    elif p > addr + 16:
        print_section(s, "Bytes b4 ", p - 16, 16)
    print_section(s, "Object ", p, min(s.object_size, PAGE_SIZE))
    if s.flags & SLAB_RED_ZONE:
        print_section(s, "Redzone ", p + s.object_size, s.inuse - s.object_size)
    off = s.offset + 8 if s.offset else s.inuse
    if s.flags & SLAB_STORE_USER:
        off += 2 * D.TRACK_SIZE
    if off != size_from_object(s):
        print_section(s, "Padding ", p + off, size_from_object(s) - off)


def object_err(s, page: int, obj: int, reason: str) -> None:
    slab_bug(s, reason)
    print_trailer(s, page, obj)


def slab_err(s, page: int, msg: str) -> None:
    slab_bug(s, msg)
    print_page_info(s, page)


def init_object(s, obj: int, val: int) -> None:
    pc = s.sl.pc
    if s.flags & SLAB_RED_ZONE:
        D.fill_bytes(pc, obj - s.red_left_pad, val, s.red_left_pad)
    if s.flags & __OBJECT_POISON:
        D.write_bytes(pc, obj, bytes([POISON_FREE]) * (s.object_size - 1) + bytes([POISON_END]))
    if s.flags & SLAB_RED_ZONE:
        D.fill_bytes(pc, obj + s.object_size, val, s.inuse - s.object_size)


def restore_bytes(s, what: str, data: int, start: int, end: int) -> None:
    slab_fix(s, f"Restoring 0x{_p(start)}-0x{_p(end - 1)}=0x{data:x}")
    _log(s).pr_err("")
    D.fill_bytes(s.sl.pc, start, data, end - start)


def check_bytes_and_report(s, page: int, obj: int, what: str, start: int, value: int,
                           nbytes: int) -> bool:
    data = _rd(s, start, nbytes)
    fault = next((i for i, b in enumerate(data) if b != value), None)
    if fault is None:
        return True
    end = nbytes
    while end > fault and data[end - 1] == value:
        end -= 1
    slab_bug(s, f"{what} overwritten")
    _log(s).pr_err(f"INFO: 0x{_p(start + fault)}-0x{_p(start + end - 1)}. First byte "
                   f"0x{data[fault]:x} instead of 0x{value:x}")
    print_trailer(s, page, obj)
    restore_bytes(s, what, value, start + fault, start + end)
    return False


def check_pad_bytes(s, page: int, p: int) -> bool:
    off = s.inuse
    if s.offset:
        off += 8
    if s.flags & SLAB_STORE_USER:
        off += 2 * D.TRACK_SIZE
    if size_from_object(s) == off:
        return True
    return check_bytes_and_report(s, page, p, "Object padding", p + off, POISON_INUSE,
                                  size_from_object(s) - off)


def slab_pad_check(s, page: int) -> bool:
    if not s.flags & SLAB_POISON:
        return True
    mm = s.sl.mm
    start = D.page_address(page)
    length = (PAGE_SIZE << D.slab_page_order(mm, page)) - s.reserved
    end = start + length
    remainder = length % s.size
    if not remainder:
        return True
    data = _rd(s, end - remainder, remainder)
    fault = next((i for i, b in enumerate(data) if b != POISON_INUSE), None)
    if fault is None:
        return True
    last = remainder
    while last > fault and data[last - 1] == POISON_INUSE:
        last -= 1
    slab_err(s, page, f"Padding overwritten. 0x{_p(end - remainder + fault)}-"
                      f"0x{_p(end - remainder + last - 1)}")
    print_section(s, "Padding ", end - remainder, remainder)
    restore_bytes(s, "slab padding", POISON_INUSE, end - remainder, end)
    return False


def check_object(s, page: int, obj: int, val: int) -> bool:
    p = obj
    endobject = obj + s.object_size
    if s.flags & SLAB_RED_ZONE:
        if not check_bytes_and_report(s, page, obj, "Redzone", obj - s.red_left_pad, val,
                                      s.red_left_pad):
            return False
        if not check_bytes_and_report(s, page, obj, "Redzone", endobject, val,
                                      s.inuse - s.object_size):
            return False
    elif s.flags & SLAB_POISON and s.object_size < s.inuse:
        check_bytes_and_report(s, page, p, "Alignment padding", endobject, POISON_INUSE,
                               s.inuse - s.object_size)
    if s.flags & SLAB_POISON:
        if val != SLUB_RED_ACTIVE and s.flags & __OBJECT_POISON and (
                not check_bytes_and_report(s, page, p, "Poison", p, POISON_FREE,
                                           s.object_size - 1)
                or not check_bytes_and_report(s, page, p, "Poison", p + s.object_size - 1,
                                              POISON_END, 1)):
            return False
        check_pad_bytes(s, page, p)
    if not s.offset and val == SLUB_RED_ACTIVE:
        return True
    if not check_valid_pointer(s, page, D.get_freepointer(s, p)):
        object_err(s, page, p, "Freepointer corrupt")
        D.set_freepointer(s, p, 0)
        return False
    return True


def check_slab(s, page: int) -> bool:
    mm = s.sl.mm
    if not mm.f[page] & (1 << PG_slab):
        slab_err(s, page, "Not a valid slab page")
        return False
    inuse, objects, _ = D.unpack_counters(mm.mc[page])
    maxobj = D.order_objects(D.slab_page_order(mm, page), s.size, s.reserved)
    if objects > maxobj:
        slab_err(s, page, f"objects {objects} > max {maxobj}")
        return False
    if inuse > objects:
        slab_err(s, page, f"inuse {inuse} > max {objects}")
        return False
    slab_pad_check(s, page)
    return True


def on_freelist(s, page: int, search: int) -> bool:
    """Whether ``search`` is on the slab's freelist; repairs the counts as 4.6 does."""
    mm = s.sl.mm
    inuse, objects, frozen = D.unpack_counters(mm.mc[page])
    nr = 0
    fp = D.page_freelist(mm, page)
    obj = 0
    while fp and nr <= objects:
        if fp == search:
            return True
        if not check_valid_pointer(s, page, fp):
            if obj:
                object_err(s, page, obj, "Freechain corrupt")
                D.set_freepointer(s, obj, 0)
            else:
                slab_err(s, page, "Freepointer corrupt")
                D.set_page_freelist(mm, page, 0)
                mm.mc[page] = D.pack_counters(objects, objects, frozen)
                slab_fix(s, "Freelist cleared")
                return False
            break
        obj = fp
        fp = D.get_freepointer(s, obj)
        nr += 1
    max_objects = min(D.order_objects(D.slab_page_order(mm, page), s.size, s.reserved),
                      D.MAX_OBJS_PER_PAGE)
    if objects != max_objects:
        slab_err(s, page, f"Wrong number of objects. Found {objects} but should be "
                          f"{max_objects}")
        objects = max_objects
        mm.mc[page] = D.pack_counters(inuse, objects, frozen)
        slab_fix(s, "Number of objects adjusted.")
    if inuse != objects - nr:
        slab_err(s, page, f"Wrong object count. Counter is {inuse} but counted were "
                          f"{objects - nr}")
        mm.mc[page] = D.pack_counters(objects - nr, objects, frozen)
        slab_fix(s, "Object count adjusted.")
    return search == 0


def trace(s, page: int, obj: int, alloc: bool) -> None:
    if s.flags & SLAB_TRACE:
        mm = s.sl.mm
        inuse = D.unpack_counters(mm.mc[page])[0]
        _log(s).pr_info(f"TRACE {s.name} {'alloc' if alloc else 'free'} 0x{_p(obj)} "
                        f"inuse={inuse} fp=0x{_p(D.page_freelist(mm, page))}")
        if not alloc:
            print_section(s, "Object ", obj, s.object_size)


def setup_object_debug(s, page: int, obj: int) -> None:
    if not s.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | __OBJECT_POISON):
        return
    init_object(s, obj, SLUB_RED_INACTIVE)
    init_tracking(s, obj)


def alloc_debug_processing(s, page: int, obj: int, caller: str, cpu: int) -> bool:
    if s.flags & SLAB_CONSISTENCY_CHECKS:
        ok = check_slab(s, page)
        if ok and not check_valid_pointer(s, page, obj):
            object_err(s, page, obj, "Freelist Pointer check fails")
            ok = False
        if ok and not check_object(s, page, obj, SLUB_RED_INACTIVE):
            ok = False
        if not ok:
            mm = s.sl.mm
            if mm.f[page] & (1 << PG_slab):
                slab_fix(s, "Marking all objects used")
                inuse, objects, frozen = D.unpack_counters(mm.mc[page])
                mm.mc[page] = D.pack_counters(objects, objects, frozen)
                D.set_page_freelist(mm, page, 0)
                # the slab stays frozen on no list with nothing free: unfreeze it as full
                mm.mc[page] = D.pack_counters(objects, objects, 0)
                D.add_full(s, s.node[0], page)
            return False
    if s.flags & SLAB_STORE_USER:
        set_track(s, obj, TRACK_ALLOC, caller, cpu)
    trace(s, page, obj, True)
    init_object(s, obj, SLUB_RED_ACTIVE)
    return True


def free_consistency_checks(s, page: int, obj: int) -> bool:
    if not check_valid_pointer(s, page, obj):
        slab_err(s, page, f"Invalid object pointer 0x{_p(obj)}")
        return False
    if on_freelist(s, page, obj):
        object_err(s, page, obj, "Object already free")
        return False
    if not check_object(s, page, obj, SLUB_RED_ACTIVE):
        return False
    if s.sl.mm.priv[page] != s.id:
        object_err(s, page, obj, "page slab pointer corrupt.")
        return False
    return True


def free_debug_processing(s, page: int, head: int, tail: int, bulk_cnt: int, caller: str,
                          cpu: int) -> bool:
    obj = head
    cnt = 0
    ret = False
    while True:
        if s.flags & SLAB_CONSISTENCY_CHECKS and cnt == 0 and not check_slab(s, page):
            break
        cnt += 1
        if s.flags & SLAB_CONSISTENCY_CHECKS and not free_consistency_checks(s, page, obj):
            break
        if s.flags & SLAB_STORE_USER:
            set_track(s, obj, TRACK_FREE, caller, cpu)
        trace(s, page, obj, False)
        init_object(s, obj, SLUB_RED_INACTIVE)
        if obj == tail:
            ret = True
            break
        obj = D.get_freepointer(s, obj)
    if cnt != bulk_cnt:
        slab_err(s, page, f"Bulk freelist count({bulk_cnt}) invalid({cnt})")
        _log(s).pr_err("")
    if not ret:
        slab_fix(s, f"Object at 0x{_p(obj)} not freed")
    return ret


def list_slab_objects(s, page: int, text: str) -> None:
    """Report the objects still allocated in a slab at cache shutdown."""
    slab_err(s, page, text)
    mm = s.sl.mm
    objects = D.unpack_counters(mm.mc[page])[1]
    free = set()
    fp = D.page_freelist(mm, page)
    while fp and len(free) <= objects:
        free.add(fp)
        fp = D.get_freepointer(s, fp)
    addr = D.page_address(page)
    for p in for_each_object(s, page):
        if p not in free:
            _log(s).pr_err(f"INFO: Object 0x{_p(p)} @offset={p - addr}")
            print_tracking(s, p)

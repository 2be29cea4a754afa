/* Runtime for generated live-kernel scenario programs (tests/live/harness.py).
 *
 * The generated part defines NREG, the region names and main(); this part
 * provides the snapshot record, fault-catching touches and the fork
 * handshake. Output goes through write(2) from static buffers: no stdio and
 * no malloc, so the program's own heap stays where the scenario puts it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define PG 4096UL
#define PM_MAX 4096            /* pagemap entries dumped per region, at most */

struct region { const char *name; uintptr_t addr; size_t len; };
static struct region R[NREG + 1];

static char obuf[1 << 20];
static size_t olen;
static char fbuf[1 << 17];
static uint64_t pmbuf[PM_MAX];
static char altstack[1 << 17];
static char stbuf[1 << 16];        /* stack for touches with a chosen sp */
static uintptr_t brk0;
static int cur_step;
static uintptr_t cur_base;        /* si_addr is reported relative to this */
static volatile size_t off;     /* loop state that survives siglongjmp */
static volatile int bad;

static sigjmp_buf jb;
static volatile int sig_no, sig_code;
static volatile uintptr_t sig_addr;

static void flush(void)
{
	size_t done = 0;
	while (done < olen) {
		ssize_t n = write(1, obuf + done, olen - done);
		if (n <= 0)
			_exit(3);
		done += n;
	}
	olen = 0;
}

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	olen += vsnprintf(obuf + olen, sizeof(obuf) - olen, fmt, ap);
	va_end(ap);
	if (olen > sizeof(obuf) - 8192)
		flush();
}

static void dump_file(const char *path, const char *tag, int only_mem)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;
	char *line, *nl;

	if (fd < 0) {
		out("@error open %s %d\n", path, errno);
		return;
	}
	while ((n = read(fd, fbuf + len, sizeof(fbuf) - 1 - len)) > 0)
		len += n;
	close(fd);
	fbuf[len] = 0;
	for (line = fbuf; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		if (!only_mem || !strncmp(line, "Vm", 2) || !strncmp(line, "Rss", 3))
			out("%s %s\n", tag, line);
	}
}

static void snapshot(const char *label, int hidden)
{
	struct rusage ru;
	int i, fd;

	getrusage(RUSAGE_SELF, &ru);
	out("@snap %s %d %d\n", label, (int)getpid(), hidden);
	out("@minflt %ld\n", ru.ru_minflt);
	dump_file("/proc/self/status", "@status", 1);
	dump_file("/proc/self/maps", "@maps", 0);
	out("@brk %lx %lx\n", brk0, (uintptr_t)syscall(SYS_brk, 0));
	fd = open("/proc/self/pagemap", O_RDONLY);
	for (i = 0; i < NREG; i++) {
		size_t n = R[i].len / PG, k;
		if (!R[i].addr)
			continue;
		out("@region %s %lx %lx\n", R[i].name, R[i].addr, R[i].len);
		if (fd < 0 || n == 0 || n > PM_MAX)
			continue;
		if (pread(fd, pmbuf, n * 8, (R[i].addr / PG) * 8) != (ssize_t)(n * 8)) {
			out("@error pagemap %s %d\n", R[i].name, errno);
			continue;
		}
		out("@pm %s", R[i].name);
		for (k = 0; k < n; k++)
			out(" %lx", pmbuf[k]);
		out("\n");
	}
	if (fd >= 0)
		close(fd);
	out("@end\n");
	flush();
}

static ucontext_t uc_main, uc_fn;
static uintptr_t st_addr;
static int st_w;

static void touch_statics(void)
{
	static volatile char *const p[] = { (char *)R, (char *)&R[NREG], (char *)&olen,
		(char *)&brk0, (char *)&cur_step, (char *)&jb, (char *)&sig_no,
		(char *)&sig_code, (char *)&sig_addr, (char *)&uc_main, (char *)&uc_fn,
		(char *)&st_addr, (char *)&st_w, (char *)&cur_base, (char *)&off, (char *)&bad };
	size_t i;
	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		*p[i] = *p[i];
	errno = 0;
}

/* Fault in everything the runtime itself writes, so that later snapshots see
 * only the scenario's faults (after fork every private page is COW again). */
static void warm(void)
{
	volatile char deep[48 << 10];
	flush();
	memset((char *)deep, 0, sizeof(deep));
	memset(obuf, 0, sizeof(obuf));
	memset(fbuf, 0, sizeof(fbuf));
	memset(pmbuf, 0, sizeof(pmbuf));
	memset(altstack, 0, sizeof(altstack));
	memset(stbuf, 0, sizeof(stbuf));
	touch_statics();
	snapshot("_warm", 1);
	snapshot("_warm", 1);
}

static void on_signal(int signo, siginfo_t *si, void *uc)
{
	(void)uc;
	sig_no = signo;
	sig_code = si->si_code;
	sig_addr = (uintptr_t)si->si_addr;
	siglongjmp(jb, 1);
}

static void setup(void)
{
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	/* Stay on one CPU (children inherit it): 6.x reuses a COW page only when its
	 * refcount is 1, and before checking it drains just the local CPU's LRU batch; a
	 * page batched on another CPU would be copied instead, at the scheduler's whim. */
	{
		unsigned long mask = 1UL << (sched_getcpu() & 63);
		syscall(SYS_sched_setaffinity, 0, sizeof(mask), &mask);
	}
}

static void ret(long v)
{
	out("@ret %d ok %ld\n", cur_step, v);
}

static void okerr(int r)
{
	if (r)
		out("@ret %d err %d\n", cur_step, errno);
	else
		ret(0);
}

/* An mmap/mremap result: errno, or the offset from `base` (0 without a base); on
 * success region i names the new mapping. */
static int map_result(int i, void *v, size_t len, uintptr_t base)
{
	if (v == MAP_FAILED) {
		out("@ret %d err %d\n", cur_step, errno);
		return 0;
	}
	ret(base ? (long)((uintptr_t)v - base) : 0L);
	R[i].addr = (uintptr_t)v;
	R[i].len = len;
	return 1;
}

/* One access per page: a load, or a write access that leaves the contents as they are. */
static void touch(uintptr_t a, size_t len, int w)
{

	if (sigsetjmp(jb, 1)) {
		out("@sig %d %d %d %lx\n", cur_step, sig_no, sig_code, sig_addr - cur_base);
		return;
	}
	for (off = 0; off < len; off += PG) {
		if (w)      /* a locked read-modify-write: one write fault, contents kept */
			__asm__ volatile("lock orb $0, %0" : "+m"(*(char *)(a + off)));
		else
			(void)*(volatile char *)(a + off);
	}
	ret(0);
}

/* fill/verify pattern: (seed << 32) | the page's index in its region (cur_base) */
static void fill(uintptr_t a, size_t len, uint64_t seed)
{
	size_t o;
	for (o = 0; o < len; o += PG)
		*(volatile uint64_t *)(a + o) = (seed << 32) | ((a + o - cur_base) / PG);
	ret(0);
}

static void verify(uintptr_t a, size_t len, uint64_t seed)
{
	bad = 0;
	if (sigsetjmp(jb, 1)) {
		out("@sig %d %d %d %lx\n", cur_step, sig_no, sig_code, sig_addr - cur_base);
		return;
	}
	for (off = 0; off < len; off += PG) {
		uint64_t want = seed ? (seed << 32) | ((a + off - cur_base) / PG) : 0;
		if (*(volatile uint64_t *)(a + off) != want)
			bad++;
	}
	out("@verify %d %d\n", cur_step, bad);
}

/* A touch run with the stack pointer just below `sp`: makecontext puts the
 * call frame there, so the fault handler sees that sp (stack-growth rule). */
static void st_fn(void) { touch(st_addr, PG, st_w); }

static void touch_with_sp(uintptr_t sp, uintptr_t a, int w)
{
	st_addr = a;
	st_w = w;
	getcontext(&uc_fn);
	uc_fn.uc_stack.ss_sp = (void *)(sp - 16384);
	uc_fn.uc_stack.ss_size = 16384;
	uc_fn.uc_link = &uc_main;
	makecontext(&uc_fn, st_fn, 0);
	swapcontext(&uc_main, &uc_fn);
}

/* fork handshake: the parent sends a byte per child block and waits for the ack */
struct child { int pid, to[2], from[2]; };

static void child_wait(struct child *c)
{
	char b;
	flush();
	if (read(c->to[0], &b, 1) != 1)
		_exit(4);
	if (b == 'x') {
		flush();
		_exit(0);
	}
}

static void child_ack(struct child *c)
{
	flush();
	if (write(c->from[1], "a", 1) != 1)
		_exit(5);
}

static void parent_ready(struct child *c)
{
	char b;
	if (read(c->from[0], &b, 1) != 1)
		_exit(8);
}

static void parent_run(struct child *c)
{
	char b;
	flush();
	if (write(c->to[1], "g", 1) != 1 || read(c->from[0], &b, 1) != 1)
		_exit(6);
}

static void parent_exit(struct child *c)
{
	int st;
	flush();
	if (write(c->to[1], "x", 1) != 1)
		_exit(7);
	waitpid(c->pid, &st, 0);
	out("@exit %d\n", c->pid);
	ret(st);
}

static void prologue(void)
{
	uintptr_t b;
	setup();
	b = (uintptr_t)syscall(SYS_brk, 0);
	brk0 = (b + PG - 1) & ~(PG - 1);
	syscall(SYS_brk, brk0);
	R[0].addr = brk0;      /* region "heap": [brk0, brk) */
	out("@brk0 %lx\n", brk0);
}

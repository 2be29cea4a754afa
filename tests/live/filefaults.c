/* File-fault scenarios for tests/test_live_filefaults.py, one per mode:
 *   read PATH NPAGES ADVICE ORDER [cached]
 *                                   a file (uncached unless "cached") touched one
 *                                   byte per page (ADVICE normal|seq|rand, ORDER seq|rand)
 *   partial PATH                    fault-around over a partly uncached file
 *   cow PATH                        private writes to file pages
 *   shared2 PATH                    MAP_SHARED writes seen by a second process
 *   truncate PATH                   SIGBUS past EOF after ftruncate, then extend
 *   write_through PATH              write(2) seen through mappings and the other way
 * Prints key=value pairs; fault counts are getrusage deltas around the measured
 * accesses only, presence is /proc/self/pagemap bit 63, "file" bit 61, the page cache
 * is mincore(). Files are written one page per write(2) so that the page cache holds
 * 4 KiB folios; "uncached" is fsync + POSIX_FADV_DONTNEED. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096L
static sigjmp_buf jb;
static volatile int bus_code;
static volatile uintptr_t bus_addr;
static int pm;

static void onbus(int s, siginfo_t *si, void *uc)
{
	(void)s; (void)uc;
	bus_code = si->si_code;
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(jb, 1);
}

static long flt(int maj)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return maj ? ru.ru_majflt : ru.ru_minflt;
}

static uint64_t pme(const char *a)
{
	uint64_t e = 0;
	pread(pm, &e, 8, ((uintptr_t)a / P) * 8);
	return e;
}

static int present(const char *a, long n)
{
	int c = 0;
	for (long i = 0; i < n; i++)
		c += (int)(pme(a + i * P) >> 63);
	return c;
}

static void bitmap(const char *key, const char *a, long n)
{
	printf("%s=", key);
	for (long i = 0; i < n; i++)
		putchar('0' + (int)(pme(a + i * P) >> 63));
	putchar(' ');
}

static int cached(char *a, long n)
{
	unsigned char v[n];
	int c = 0;
	if (mincore(a, n * P, v))
		return -1;
	for (long i = 0; i < n; i++)
		c += v[i] & 1;
	return c;
}

/* every mapping starts at its own 2 MiB boundary (the model uses the same offsets), so
 * that fault-around windows, which align on virtual addresses, line up */
static char *reserve;
static int slots;

static char *map_at(long len, int prot, int flags, int fd)
{
	char *want = reserve + (long)slots++ * (2 << 20);
	char *a = mmap(want, len, prot, flags | MAP_FIXED, fd, 0);
	if (a != want)
		exit(7);
	return a;
}

static unsigned char fbyte(long i) { return (unsigned char)(i * 7 + 1); }

static int mkfile(const char *path, long npages)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[P];
	for (long pg = 0; pg < npages; pg++) {
		for (long i = 0; i < P; i++)
			buf[i] = (char)fbyte(pg * P + i);
		if (write(fd, buf, P) != P)
			exit(2);
	}
	return fd;
}

static void drop(int fd)
{
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Fisher-Yates with the C library's old LCG, so Python can repeat the order */
static void shuffle(long *o, long n)
{
	uint32_t x = 12345;
	for (long i = 0; i < n; i++)
		o[i] = i;
	for (long i = n - 1; i > 0; i--) {
		x = (x * 1103515245u + 12345u) & 0x7fffffffu;
		long j = x % (uint32_t)(i + 1), t = o[i];
		o[i] = o[j];
		o[j] = t;
	}
}

/* a read that may raise SIGBUS: the byte, or -1 */
static int probe(volatile char *a)
{
	if (sigsetjmp(jb, 1) == 0)
		return (unsigned char)*a;
	return -1;
}

static int mode_read(const char *path, long n, const char *adv, const char *order,
		     int keep_cached)
{
	int fd = mkfile(path, n);
	if (!keep_cached)
		drop(fd);
	char *a = map_at(n * P, PROT_READ, MAP_PRIVATE, fd);
	int advice = !strcmp(adv, "seq") ? MADV_SEQUENTIAL :
		     !strcmp(adv, "rand") ? MADV_RANDOM : MADV_NORMAL;
	if (a == MAP_FAILED || madvise(a, n * P, advice))
		return 3;
	long o[n];
	if (!strcmp(order, "rand"))
		shuffle(o, n);
	else
		for (long i = 0; i < n; i++)
			o[i] = i;
	int before = cached(a, n);
	volatile char c;
	long mn = flt(0), mj = flt(1);
	for (long i = 0; i < n; i++)
		c = a[o[i] * P];
	long dmn = flt(0) - mn, dmj = flt(1) - mj;
	(void)c;
	printf("cached_before=%d majflt=%ld minflt=%ld present=%d cached=%d\n", before, dmj, dmn,
	       present(a, n), cached(a, n));
	return 0;
}

static int mode_partial(const char *path)
{
	long n = 64;
	int fd = mkfile(path, n);
	fsync(fd);
	/* pages 3-6 and 10 leave the cache */
	posix_fadvise(fd, 3 * P, 4 * P, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 10 * P, P, POSIX_FADV_DONTNEED);
	char *a = map_at(n * P, PROT_READ, MAP_PRIVATE, fd);
	volatile char c;
	printf("cached_before=%d ", cached(a, n));
	long mn = flt(0), mj = flt(1);
	c = a[1];
	printf("majflt=%ld minflt=%ld ", flt(1) - mj, flt(0) - mn);
	bitmap("present", a, 16);
	mn = flt(0), mj = flt(1);
	c = a[4 * P + 1];
	printf("majflt2=%ld minflt2=%ld ", flt(1) - mj, flt(0) - mn);
	bitmap("present2", a, 16);
	(void)c;
	printf("\n");
	return 0;
}

static int mode_cow(const char *path)
{
	int fd = mkfile(path, 4);
	char *a = map_at(4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	char *b = map_at(4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	volatile char c;
	long mn = flt(0);
	c = a[0];
	long r1 = flt(0) - mn;
	uint64_t e0 = pme(a), e2 = pme(a + 2 * P);
	mn = flt(0);
	a[5] = 'X';
	long w1 = flt(0) - mn;
	mn = flt(0);
	a[2 * P + 7] = 'Y';
	long w2 = flt(0) - mn;
	uint64_t f0 = pme(a), f2 = pme(a + 2 * P);
	mn = flt(0);
	b[P + 9] = 'Z';             /* first touch of b is a write: do_cow_fault */
	long w3 = flt(0) - mn;
	uint64_t g1 = pme(b + P);
	char f[3 * P];
	pread(fd, f, 3 * P, 0);
	int file_old = f[5] == (char)fbyte(5) && f[2 * P + 7] == (char)fbyte(2 * P + 7) &&
		       f[P + 9] == (char)fbyte(P + 9);
	int map_new = a[5] == 'X' && a[2 * P + 7] == 'Y' && b[P + 9] == 'Z' &&
		      a[6] == (char)fbyte(6) && b[P + 10] == (char)fbyte(P + 10);
	(void)c;
	printf("r1=%ld w1=%ld w2=%ld w3=%ld present_a=%d present_b=%d "
	       "file0=%d file0_after=%d file2=%d file2_after=%d fileb1=%d "
	       "pfn0_changed=%d pfn2_changed=%d excl0_after=%d file_old=%d map_new=%d\n",
	       r1, w1, w2, w3, present(a, 4), present(b, 4),
	       (int)(e0 >> 61 & 1), (int)(f0 >> 61 & 1), (int)(e2 >> 61 & 1),
	       (int)(f2 >> 61 & 1), (int)(g1 >> 61 & 1),
	       (e0 & ((1ULL << 55) - 1)) != (f0 & ((1ULL << 55) - 1)),
	       (e2 & ((1ULL << 55) - 1)) != (f2 & ((1ULL << 55) - 1)),
	       (int)(f0 >> 56 & 1), file_old, map_new);
	return 0;
}

static int mode_shared2(const char *path)
{
	int fd = mkfile(path, 4);
	char *a = map_at(4 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	volatile char c;
	long mn = flt(0);
	c = a[0];
	long r1 = flt(0) - mn;
	uint64_t e0 = pme(a);
	int pipefd[2];
	if (pipe(pipefd))
		return 4;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int fd2 = open(path, O_RDWR);
		close(pm);
		pm = open("/proc/self/pagemap", O_RDONLY);
		char *b = map_at(4 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd2);
		flt(0);
		mn = flt(0);
		memcpy(b + 10, "XYZ", 3);
		memcpy(b + 2 * P + 20, "UVW", 3);
		long w = flt(0) - mn;
		int same = (pme(b) & ((1ULL << 55) - 1)) == (e0 & ((1ULL << 55) - 1));
		printf("child_minflt=%ld child_present=%d child_same_frame=%d ", w, present(b, 4),
		       same);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	flt(0);                     /* its copy-on-write fault of the stack after fork */
	mn = flt(0);
	int seen = !memcmp(a + 10, "XYZ", 3) && !memcmp(a + 2 * P + 20, "UVW", 3);
	long r2 = flt(0) - mn;
	char f[3 * P];
	pread(fd, f, 3 * P, 0);
	int file_new = !memcmp(f + 10, "XYZ", 3) && !memcmp(f + 2 * P + 20, "UVW", 3);
	(void)c;
	printf("r1=%ld present=%d seen=%d r2=%d file_new=%d same_frame=%d\n", r1, present(a, 4),
	       seen, (int)r2, file_new, (pme(a) & ((1ULL << 55) - 1)) == (e0 & ((1ULL << 55) - 1)));
	return 0;
}

static int mode_truncate(const char *path)
{
	int fd = mkfile(path, 8);
	char *s = map_at(8 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	char *pv = map_at(8 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	volatile char c;
	for (long i = 0; i < 8; i++)
		c = s[i * P];
	pv[5 * P] = 'Q';            /* a COW copy past the coming EOF */
	c = pv[P];
	bitmap("s_before", s, 8);
	bitmap("p_before", pv, 8);
	if (ftruncate(fd, 2 * P + 2048))
		return 5;
	bitmap("s_shrunk", s, 8);
	bitmap("p_shrunk", pv, 8);
	printf("tail=%d ", probe(s + 2 * P + 3000));
	long mn = flt(0), mj = flt(1);
	int v = probe(s + 5 * P + 8);
	printf("s5=%d code=%d off=%ld ", v, bus_code, (long)(bus_addr - (uintptr_t)s));
	v = probe(pv + 5 * P);
	printf("p5=%d pcode=%d poff=%ld ", v, bus_code, (long)(bus_addr - (uintptr_t)pv));
	printf("sig_minflt=%ld sig_majflt=%ld ", flt(0) - mn, flt(1) - mj);
	if (ftruncate(fd, 8 * P))
		return 6;
	mn = flt(0), mj = flt(1);
	int s5 = probe(s + 5 * P + 8);
	printf("ext_minflt=%ld ext_majflt=%ld ", flt(0) - mn, flt(1) - mj);
	printf("s5_ext=%d tail_ext=%d head2=%d p5_ext=%d p1=%d ", s5, probe(s + 2 * P + 3000),
	       probe(s + 2 * P + 100) == fbyte(2 * P + 100), probe(pv + 5 * P),
	       probe(pv + P + 3) == fbyte(P + 3));
	bitmap("s_ext", s, 8);
	bitmap("p_ext", pv, 8);
	(void)c;
	printf("\n");
	return 0;
}

static int mode_write_through(const char *path)
{
	int fd = mkfile(path, 4);
	char *s = map_at(4 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	char *pv = map_at(4 * P, PROT_READ, MAP_PRIVATE, fd);
	volatile char c;
	long mn = flt(0);
	c = s[0];
	c = pv[P];
	long r1 = flt(0) - mn;
	pwrite(fd, "hello", 5, 100);
	pwrite(fd, "there", 5, P + 200);
	mn = flt(0);
	int s_sees = !memcmp(s + 100, "hello", 5) && !memcmp(s + P + 200, "there", 5);
	int p_sees = !memcmp(pv + 100, "hello", 5) && !memcmp(pv + P + 200, "there", 5);
	long r2 = flt(0) - mn;
	mn = flt(0);
	memcpy(s + 3 * P + 300, "world", 5);
	long w1 = flt(0) - mn;
	char f[8];
	pread(fd, f, 5, 3 * P + 300);
	mn = flt(0);
	int p_sees2 = !memcmp(pv + 3 * P + 300, "world", 5);
	long r3 = flt(0) - mn;
	(void)c;
	printf("r1=%ld s_sees=%d p_sees=%d r2=%ld w1=%ld file_sees=%d p_sees2=%d r3=%ld "
	       "present_s=%d present_p=%d\n", r1, s_sees, p_sees, r2, w1, !memcmp(f, "world", 5),
	       p_sees2, r3, present(s, 4), present(pv, 4));
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = onbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	pm = open("/proc/self/pagemap", O_RDONLY);
	char *res = mmap(NULL, 40 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reserve = (char *)(((uintptr_t)res + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	/* warm the stack and the C library before anything is measured */
	{ volatile char warm[64 * 1024]; memset((char *)warm, 1, sizeof(warm)); }
	flt(0);
	const char *mode = argv[1], *path = argv[2];
	int r = 1;
	if (!strcmp(mode, "read"))
		r = mode_read(path, atol(argv[3]), argv[4], argv[5],
			      argc > 6 && !strcmp(argv[6], "cached"));
	else if (!strcmp(mode, "partial"))
		r = mode_partial(path);
	else if (!strcmp(mode, "cow"))
		r = mode_cow(path);
	else if (!strcmp(mode, "shared2"))
		r = mode_shared2(path);
	else if (!strcmp(mode, "truncate"))
		r = mode_truncate(path);
	else if (!strcmp(mode, "write_through"))
		r = mode_write_through(path);
	unlink(path);
	return r;
}

/* clear_refs on this machine's kernel: pagemap bit 55 (soft-dirty) of 32 anonymous pages
 * before and after "4" (tests/test_clear_refs.py runs the same steps in the model), the
 * smaps Referenced figure of a second region through "3", "2", reads and "1", and the
 * errno of bad values. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define N 32
#define R 16
static char *a, *b;
static int pm, cr;
static long pg;

static void bits(const char *what)
{
	printf("%s ", what);
	for (int i = 0; i < N; i++) {
		uint64_t e = 0;
		if (pread(pm, &e, 8, ((uintptr_t)a / pg + i) * 8) != 8) {
			printf("pagemap_unreadable %d\n", errno);
			return;
		}
		putchar('0' + (int)(e >> 55 & 1));
	}
	putchar('\n');
}

static void referenced(const char *what)
{
	char line[512];
	int inside = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = lo == (uintptr_t)b;
		else if (inside && !strncmp(line, "Referenced:", 11))
			printf("%s %ld\n", what, strtol(line + 11, NULL, 10));
	}
	if (f)
		fclose(f);
}

static void clear(const char *v)
{
	if (write(cr, v, strlen(v)) < 0)
		printf("write%s %d\n", v, errno);
}

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	a = mmap(NULL, N * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* one page more, unmapped again, so that b does not merge with a */
	b = mmap(NULL, (R + 1) * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(b + R * pg, pg);
	madvise(a, N * pg, MADV_NOHUGEPAGE);
	madvise(b, R * pg, MADV_NOHUGEPAGE);
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) {
		printf("unavailable pagemap %d\n", errno);
		return 0;
	}
	cr = open("/proc/self/clear_refs", O_WRONLY);
	if (cr < 0) {
		printf("unavailable clear_refs %d\n", errno);
		return 0;
	}
	for (int i = 0; i < N; i += 2)
		a[i * pg] = 1;
	bits("before");
	clear("4");
	bits("cleared");
	for (int i = 0; i < N; i += 3)
		a[i * pg] = 2;
	for (int i = 1; i < N; i += 5)
		(void)*(volatile char *)(a + i * pg);
	bits("after");

	for (int i = 0; i < R; i++)
		b[i * pg] = 1;
	referenced("ref_written");
	clear("3");
	referenced("ref_after3");
	clear("2");
	referenced("ref_after2");
	for (int i = 0; i < 5; i++)
		(void)*(volatile char *)(b + i * pg);
	referenced("ref_read5");
	clear("1");
	referenced("ref_after1");
	clear("5");
	const char *bad[] = {"0", "6", "x", "-1", "99999999999", ""};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ssize_t r = write(cr, bad[i], strlen(bad[i]));
		printf("bad[%u] %d\n", i, r < 0 ? errno : 0);
	}
	return 0;
}

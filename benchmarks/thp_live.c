/* 2 MiB THP faults per second on the live kernel: an MADV_HUGEPAGE region, one store per
   2 MiB block; then the cost of splitting each PMD by unmapping one 4 KiB page in it.
   Prints key value lines: blocks, fault_s, split_s, thp_kb (the region's AnonHugePages
   after the faults: how many blocks the kernel served with a huge page). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

static long anon_huge_kb(unsigned long start, unsigned long end)
{
	char line[256]; unsigned long lo, hi; int in = 0; long kb = 0, v;
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo < end && hi > start;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
			kb += v;
	}
	if (f) fclose(f);
	return kb;
}

static double now(void)
{
	struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	size_t M = 2UL << 20, n = argc > 1 ? atol(argv[1]) : 64, len = (n + 1) * M;
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) return 1;
	char *b = (char *)(((unsigned long)a + M - 1) & ~(M - 1));
	madvise(a, len, MADV_HUGEPAGE);
	double t0 = now();
	for (size_t i = 0; i < n; i++) b[i * M] = 1;
	double t1 = now();
	long thp_kb = anon_huge_kb((unsigned long)a, (unsigned long)a + len);
	for (size_t i = 0; i < n; i++) munmap(b + i * M + 4096, 4096);
	double t2 = now();
	printf("blocks %zu\nfault_s %.9f\nsplit_s %.9f\nthp_kb %ld\n", n, t1 - t0, t2 - t1, thp_kb);
	return 0;
}

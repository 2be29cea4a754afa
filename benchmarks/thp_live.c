/* 2 MiB THP faults per second on the live kernel: an MADV_HUGEPAGE region, one store per
   2 MiB block; then the cost of splitting each PMD by unmapping one 4 KiB page in it.
   Prints key value lines: blocks, fault_s, split_s. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

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
	for (size_t i = 0; i < n; i++) munmap(b + i * M + 4096, 4096);
	double t2 = now();
	printf("blocks %zu\nfault_s %.9f\nsplit_s %.9f\n", n, t1 - t0, t2 - t1);
	return 0;
}

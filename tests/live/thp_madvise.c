/* THP in madvise mode: an MADV_HUGEPAGE region faulted by one write per 2 MiB block,
   then one 4 KiB page unmapped inside the first block. Prints the thp_* vmstat counters
   and the region's AnonHugePages (smaps) at each step. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long vmstat(const char *key)
{
	char name[128]; long v; FILE *f = fopen("/proc/vmstat", "r");
	while (f && fscanf(f, "%127s %ld", name, &v) == 2)
		if (!strcmp(name, key)) { fclose(f); return v; }
	if (f) fclose(f);
	return -1;
}

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

static void report(const char *tag, unsigned long b, unsigned long e)
{
	printf("%s thp_fault_alloc=%ld thp_split_pmd=%ld thp_deferred_split_page=%ld anon_huge_kb=%ld\n",
	       tag, vmstat("thp_fault_alloc"), vmstat("thp_split_pmd"),
	       vmstat("thp_deferred_split_page"), anon_huge_kb(b, e));
}

int main(void)
{
	size_t M = 2UL << 20, len = 8UL << 20;
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) return 1;
	char *b = (char *)(((unsigned long)a + M - 1) & ~(M - 1));
	if (madvise(a, len, MADV_HUGEPAGE)) return 2;
	report("start", (unsigned long)a, (unsigned long)a + len);
	b[5] = 1;
	b[M + 5] = 1;
	report("faulted", (unsigned long)a, (unsigned long)a + len);
	if (munmap(b + 10 * 4096, 4096)) return 3;
	report("split", (unsigned long)a, (unsigned long)a + len);
	return 0;
}

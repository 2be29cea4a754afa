/*
 * The notes' experiments (multi_page_alloc, simple_alloc) with the same steps, reporting
 * at each stop what the model's workloads report: the VMA holding the allocation (and
 * whether it is [heap]), its Rss from smaps, which of its pages are present in pagemap,
 * and VmStk. Reports go to stderr through write(2) from static buffers, so that they
 * allocate nothing from the heap they observe. stdout and stdin are pipes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096UL

static char smaps[1 << 20];
static char line[512];

static unsigned long field_after(const char *p, const char *name)
{
	const char *q = strstr(p, name);
	return q ? strtoul(q + strlen(name), NULL, 10) : 0;
}

static void report(const char *label, void *ptr, unsigned long npages)
{
	unsigned long a = (unsigned long)ptr, lo = 0, hi = 0, rss = 0, heap_lo = 0, heap_hi = 0;
	unsigned long heap_rss = 0, vmstk = 0, i;
	int fd, n = 0, r, in_heap = 0, len;
	char *p, *next;

	fd = open("/proc/self/smaps", O_RDONLY);
	while ((r = read(fd, smaps + n, sizeof(smaps) - 1 - n)) > 0)
		n += r;
	close(fd);
	smaps[n] = 0;
	for (p = smaps; p && *p; p = next) {
		unsigned long s, e;
		char *eol = strchr(p, '\n');
		next = strstr(p + 1, "\nVmFlags:");
		if (next)
			next = strchr(next + 1, '\n');
		if (next)
			next++;
		if (sscanf(p, "%lx-%lx", &s, &e) != 2)
			continue;
		if (eol && memmem(p, eol - p, "[heap]", 6)) {
			heap_lo = s; heap_hi = e; heap_rss = field_after(p, "\nRss:");
		}
		if (a && s <= a && a < e) {
			lo = s; hi = e; rss = field_after(p, "\nRss:");
			in_heap = eol && memmem(p, eol - p, "[heap]", 6) != NULL;
		}
	}
	fd = open("/proc/self/status", O_RDONLY);
	n = read(fd, smaps, sizeof(smaps) - 1);
	close(fd);
	smaps[n > 0 ? n : 0] = 0;
	vmstk = field_after(smaps, "\nVmStk:");
	len = snprintf(line, sizeof(line),
		       "STOP %s ptr=%lx vma=%lx-%lx heap=%d rss=%lu heapvma=%lx-%lx heaprss=%lu vmstk=%lu present=",
		       label, a, lo, hi, in_heap, rss, heap_lo, heap_hi, heap_rss, vmstk);
	fd = open("/proc/self/pagemap", O_RDONLY);
	for (i = 0, n = 0; i < npages; i++) {
		unsigned long long e = 0;
		pread(fd, &e, 8, ((a & ~(PAGE - 1)) / PAGE + i) * 8);
		n += e >> 63;
		if (npages <= 64)
			line[len++] = (e >> 63) ? '1' : '0';
	}
	close(fd);
	if (npages > 64)
		len += snprintf(line + len, sizeof(line) - len, "%d", n);
	line[len++] = '\n';
	write(2, line, len);
}

static void multi_page_alloc(void)
{
	unsigned long size = PAGE * 11;
	unsigned char *ptr;

	puts("Before alloc.");
	getchar();
	report("before", NULL, 0);
	ptr = malloc(size);
	printf("Alloc'ed.\nAddress = %016lx\n", (unsigned long)ptr);
	getchar();
	report("malloc", ptr, 12);
	ptr[0] = '1';
	puts("Touched 1st page.");
	getchar();
	report("touch0", ptr, 12);
	ptr[PAGE] = '2';
	puts("Touched 2nd page.");
	getchar();
	report("touch1", ptr, 12);
	ptr[PAGE * 7] = '7';
	puts("Touched 7th page.");
	getchar();
	report("touch7", ptr, 12);
	memset(ptr, 'x', size);
	puts("Memset.");
	getchar();
	report("memset", ptr, 12);
	free(ptr);
	puts("Freed.");
	getchar();
	report("free", ptr, 12);
}

static void *deepest;

static void recur(int count)
{
	char dummy[1024];

	if (count <= 0) {
		deepest = dummy;
		report("deepest", dummy, 0);
		return;
	}
	dummy[0] = 'x';
	recur(count - 1);
	dummy[1023] = dummy[0];
}

static void simple_alloc(void)
{
	long i, bytes = 1025 * PAGE + 69;
	unsigned char *buf;

	report("start", NULL, 0);
	buf = malloc(bytes);
	report("malloc", buf, 1026);
	for (i = 0; i < bytes; i++)
		buf[i] = 'x';
	report("filled", buf, 1026);
	free(buf);
	report("freed", buf, 0);
	recur(7000);
	report("returned", deepest, 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "simple_alloc"))
		simple_alloc();
	else
		multi_page_alloc();
	return 0;
}

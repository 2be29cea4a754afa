/* A small program for `linuxvm replay-strace`: the mmap family, brk, a file mapping,
 * fork, and its own /proc/self/maps printed at the end (so a replay can be compared
 * with what the real kernel did).
 *
 *   gcc -O1 -o maps_demo maps_demo.c
 *   strace -f -e trace=memory,process,desc -o maps_demo.strace ./maps_demo > maps_demo.maps
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

void *blocks[64];               /* global, so that the compiler keeps the mallocs */

/* write(2), not stdio: a stdio buffer would be malloc'ed (brk) after the maps were read */
static void print_maps(void)
{
    char buf[4096];
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n;

    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write(1, buf, n) != n)
            break;
    close(fd);
}

int main(void)
{
    /* anonymous: map 16 pages, write-protect the middle, punch a hole, grow one */
    char *a = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 1, 16 * PAGE);
    mprotect(a + 4 * PAGE, 4 * PAGE, PROT_READ);
    munmap(a + 12 * PAGE, 2 * PAGE);
    /* read-only, so that wherever mremap puts it no neighbour can merge with it: 4.6
     * merges a moved never-faulted anonymous VMA more readily than 6.x does, and the
     * replay faults nothing (docs/replay.md) */
    char *b = mmap(NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    b = mremap(b, 8 * PAGE, 40 * PAGE, MREMAP_MAYMOVE);
    madvise(b, 8 * PAGE, MADV_DONTNEED);
    /* a fixed mapping over the tail of the first one */
    mmap(a + 14 * PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

    /* a file: create it, map it shared and private */
    int fd = open("/tmp/maps_demo.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    ftruncate(fd, 8 * PAGE);
    char *f = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    f[0] = 'x';
    char *g = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 4 * PAGE);
    close(fd);
    unlink("/tmp/maps_demo.dat");

    /* the heap through brk: malloc of small blocks */
    for (int i = 0; i < 64; i++)
        blocks[i] = malloc(1000);
    /* a bad call the kernel refuses */
    munmap(a + 1, PAGE);

    pid_t pid = fork();
    if (pid == 0) {
        char *c = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        c[0] = 1;
        munmap(b, 40 * PAGE);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    (void)g;
    print_maps();
    return 0;
}

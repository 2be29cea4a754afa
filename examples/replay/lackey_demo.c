/* A tiny program for `linuxvm replay-trace`: no C library (so valgrind's lackey trace
 * holds only its own loads, stores and instruction fetches), a loop over a 64 KiB
 * array in .bss and a few stack accesses, then exit.
 *
 *   gcc -O1 -static -nostdlib -fno-stack-protector -o lackey_demo lackey_demo.c
 *   valgrind --tool=lackey --trace-mem=yes --log-file=lackey_demo.lackey ./lackey_demo
 */
#define N (64 * 1024 / sizeof(long))

static long table[N];

static long sum(volatile long *t, unsigned long n, unsigned long stride)
{
    long s = 0;
    for (unsigned long i = 0; i < n; i += stride)
        s += t[i];
    return s;
}

void _start(void)
{
    volatile long local[64];
    for (unsigned long i = 0; i < N; i += 8)     /* one store per 64-byte line */
        table[i] = (long)i;
    for (unsigned long i = 0; i < 64; i++)
        local[i] = (long)i;
    long s = sum(table, N, 64) + sum(local, 64, 1);
    for (unsigned long i = 0; i < N; i += 512)   /* read-modify-write, one per page */
        table[i] += s;
    __asm__ volatile("mov $60, %%eax; xor %%edi, %%edi; syscall" ::: "rax", "rdi", "memory");
    __builtin_unreachable();
}

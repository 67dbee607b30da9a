/* ia32pipe makes one 32-bit system call from a 64-bit process: pipe
 * (ia32 number 42) through int 0x80, whose number is connect's in the
 * x86-64 table. Built non-PIE so that its buffer has a 32-bit address.
 * It prints its pid, waits for a line on stdin, makes the call, and
 * prints the result. */
#include <stdio.h>
#include <unistd.h>

static int fds[2];

int main(void)
{
	char line[8];
	printf("%d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(42L), "b"((long)fds) : "memory");
	printf("%ld\n", ret);
	return ret == 0 ? 0 : 2;
}

/* A shared library for the plt sample: its calls go through the PLT. */
__attribute__((noinline)) void library_spin(long iterations)
{
	for (volatile long i = 0; i < iterations; i++)
		;
}

void library_work(long iterations)
{
	library_spin(iterations);
	__asm__ volatile("");
}

/* Built by clang, which writes no .debug_aranges: a unit they leave out. */
volatile int clang_sink;

static inline __attribute__((always_inline)) int step(int x)
{
	clang_sink = x; /* code of its own, which keeps the inlined call in the DWARF */
	return x * 3 + 1;
}

__attribute__((noinline)) int clang_work(int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += step(i);
	return total;
}

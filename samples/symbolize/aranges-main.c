/* Built by gcc, which writes .debug_aranges: the half of `mixed` those ranges cover. */
int clang_work(int n);

volatile int gcc_sink;

static inline __attribute__((always_inline)) int twice(int x)
{
	gcc_sink = x;
	return 2 * x;
}

int main(int argc, char **argv)
{
	(void)argv;
	return twice(clang_work(argc * 1000)) & 1;
}

/*
 * The CFI walk of a user stack in the kernel (--unwind auto), shared by ember's CPU sampler
 * (profile.bpf.c, at each sample) and its off-CPU program (offcpu.bpf.c, at each switch-out):
 * from the task's saved user registers, through each file's unwind rows (ember_maps.bpf.h),
 * to a stack of pcs kept in cfi_stacks under its hash.
 */
#ifndef EMBER_CFI_BPF_H
#define EMBER_CFI_BPF_H

#include "ember_maps.bpf.h"
#include "ember_task.h"

/* CFI mode: the state of one walk, for its bpf_loop callback. */
struct cfi_walk {
	struct ember_process_mappings *mappings;
	struct ember_user_stack *stack;
	struct cfi_walk_memory *memory;
	__u64 ip;
	__u64 sp;
	__u64 bp;
	__u64 hash;
	__u32 exact;    /* ip is the sampled pc (not a return address): look it up as it is */
	__u32 outcome;  /* enum cfi_outcome */
};

enum cfi_outcome {
	CFI_WALKING = 0,
	CFI_WALKED = 1,      /* the stack and its end are in `stack` */
	CFI_PENDING = 2,     /* a pc in a mapping whose table is not loaded */
	CFI_NEEDS_COPY = 3,  /* a rule the walk lacks */
	CFI_UNMAPPED = 4,    /* a pc in none of the process's mappings */
};

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static __always_inline __u64 fnv1a(__u64 hash, __u64 word)
{
	for (int i = 0; i < 8; i++) {
		hash ^= (word >> (i * 8)) & 0xff;
		hash *= FNV_PRIME;
	}
	return hash;
}

static __always_inline long walk_ends(struct cfi_walk *walk, __u32 end)
{
	walk->stack->end = end;
	walk->outcome = CFI_WALKED;
	return 1;
}

/* A binary search for the last entry whose start is at or below `address`: `low` ends as
 * one past it. Done with bpf_loop, so that the verifier checks one step, not every path
 * through 24 of them. */
struct search {
	__u64 address;
	__u32 low;
	__u32 high;
	__u32 first_row;                          /* rows: the table's first */
	struct ember_process_mappings *mappings;  /* mappings: the process's */
	__u32 failed;
};

static long search_rows_step(__u32 index, struct search *search)
{
	if (search->low >= search->high)
		return 1;
	__u32 middle = search->low + (search->high - search->low) / 2;
	__u32 row_index = search->first_row + middle;
	struct ember_unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &row_index);
	if (!row) {
		search->failed = 1;
		return 1;
	}
	if (row->pc <= search->address)
		search->low = middle + 1;
	else
		search->high = middle;
	return 0;
}

static long search_mappings_step(__u32 index, struct search *search)
{
	if (search->low >= search->high)
		return 1;
	__u32 middle = search->low + (search->high - search->low) / 2;
	if (middle >= EMBER_MAX_MAPPINGS)
		return 1;
	if (search->mappings->mappings[middle].start <= search->address)
		search->low = middle + 1;
	else
		search->high = middle;
	return 0;
}

/* The row of `table` that holds at file address `address`, or 0 before its first row. */
static __always_inline struct ember_unwind_row *find_row(struct ember_unwind_table *table, __u64 address)
{
	struct search search = {.address = address, .high = table->row_count, .first_row = table->first_row};
	bpf_loop(32, search_rows_step, &search, 0);
	if (search.failed || search.low == 0)
		return 0;
	__u32 index = search.first_row + search.low - 1;
	return bpf_map_lookup_elem(&unwind_rows, &index);
}

/* Reads the user word at `address` into memory->word, through the CPU's window onto the
 * stack. A walk's frames lie close together, and one read of user memory takes in many of
 * them: a helper call per word, each arming the fault handler, costs more than the searches
 * of the tables. The window starts a little below `address` (a saved rbp lies below its
 * return address) and never leaves its page, so it reads nothing that the word's own read
 * would not. A global function, like find_rule: the verifier checks it once, on its own. */
__noinline int read_stack_word(struct cfi_walk_memory *memory, __u64 address)
{
	if (!memory)
		return -1;
	if (address < memory->window_base || address - memory->window_base + 8 > memory->window_length) {
		__u64 page = address & ~4095ULL;
		__u64 base = address - page > 64 ? address - 64 : page;
		__u64 length = page + 4096 - base;
		if (length > EMBER_CFI_WINDOW_SIZE)
			length = EMBER_CFI_WINDOW_SIZE;
		memory->window_length = 0;
		if (bpf_probe_read_user(memory->window, length, (void *)base) == 0) {
			memory->window_base = base;
			memory->window_length = length;
		}
		/* No window could be read, or the word crosses into the next page. */
		if (memory->window_length == 0 || address - base + 8 > length)
			return bpf_probe_read_user(&memory->word, sizeof(memory->word), (void *)address);
	}
	__u64 offset = address - memory->window_base;
	if (offset > EMBER_CFI_WINDOW_SIZE - 8)
		return -1;
	memory->word = *(__u64 *)(memory->window + offset);
	return 0;
}

/* Puts the rule for `pc` (a return address less one, or an exact pc) in memory->rule.
 * Returns the walk's outcome so far: CFI_WALKING, or why the walk stops here. A global
 * function, which the verifier checks once, on its own, rather than on every path of every
 * frame of the walk that calls it. */
__noinline __u32 find_rule(struct cfi_walk_memory *memory, struct ember_process_mappings *mappings, __u64 pc)
{
	if (!memory || !mappings)
		return CFI_PENDING;
	struct cfi_rule *rule = &memory->rule;
	if (memory->recent[0].pc == pc) {
		*rule = memory->recent[0];
		return CFI_WALKING;
	}
	if (memory->recent[1].pc == pc) {
		*rule = memory->recent[1];
		return CFI_WALKING;
	}
	__u64 generation = mappings->generation;
	/* Fibonacci hashing: the top bits of the product. */
	__u32 slot = ((pc ^ generation) * 0x9E3779B97F4A7C15ULL) >> (64 - EMBER_CFI_RULE_CACHE_BITS);
	struct cfi_cached_rule *cached = generation ? bpf_map_lookup_elem(&cfi_rule_cache, &slot) : 0;
	if (cached && cached->generation == generation && cached->rule.pc == pc) {
		*rule = cached->rule;
		return CFI_WALKING;
	}
	__u32 count = mappings->count;
	if (count > EMBER_MAX_MAPPINGS)
		count = EMBER_MAX_MAPPINGS;
	__u32 index = memory->last_mapping;
	if (index >= count || index >= EMBER_MAX_MAPPINGS || pc < mappings->mappings[index].start ||
	    pc >= mappings->mappings[index].end) {
		struct search search = {.address = pc, .high = count, .mappings = mappings};
		bpf_loop(9, search_mappings_step, &search, 0);
		if (search.low == 0 || search.low > EMBER_MAX_MAPPINGS)
			return CFI_UNMAPPED;
		index = search.low - 1;
		memory->last_mapping = index;
	}
	if (index >= EMBER_MAX_MAPPINGS)
		return CFI_UNMAPPED;
	struct ember_mapping *mapping = &mappings->mappings[index];
	if (pc >= mapping->end)
		return CFI_UNMAPPED;
	if (mapping->kind == EMBER_MAPPING_PENDING)
		return CFI_PENDING;
	rule->pc = pc;
	rule->rule = EMBER_RULE_NONE;
	rule->cfa_offset = 0;
	rule->rbp_offset = 0;
	rule->plt_threshold = 0;
	rule->frame_pointer_code = mapping->kind == EMBER_MAPPING_FRAME_POINTER;
	if (mapping->kind == EMBER_MAPPING_TABLE) {
		__u32 table_index = mapping->table;
		struct ember_unwind_table *table = bpf_map_lookup_elem(&unwind_tables, &table_index);
		if (!table)
			return CFI_PENDING;
		struct ember_unwind_row *row = find_row(table, pc - mapping->bias);
		if (row) {
			rule->rule = row->rule;
			rule->cfa_offset = row->cfa_offset;
			rule->rbp_offset = row->rbp_offset;
			rule->plt_threshold = row->plt_threshold;
		}
	}
	memory->recent[memory->next_recent & 1] = *rule;
	memory->next_recent++;
	if (cached) {
		cached->generation = generation;
		cached->rule = *rule;
	}
	return CFI_WALKING;
}

/* Whether `ra` returns into CPython's perf trampoline (3.12, 3.13), just past its call. */
static __always_inline int is_perf_trampoline_return(__u64 ra)
{
	__u8 code[6];
	if (ra < 6 || bpf_probe_read_user(code, sizeof(code), (void *)(ra - 6)) != 0)
		return 0;
	return code[0] == 0x48 && code[1] == 0x83 && code[2] == 0xec && code[3] == 0x08 && code[4] == 0xff &&
	       code[5] == 0xd1;
}

/* One frame: records its pc, then finds its caller's registers (a bpf_loop callback:
 * verified once, not per frame). */
static long cfi_step(__u32 index, struct cfi_walk *walk)
{
	struct ember_user_stack *stack = walk->stack;
	__u32 depth = stack->depth;
	if (depth >= EMBER_MAX_STACK_DEPTH)
		return walk_ends(walk, EMBER_END_TRUNCATED);
	/* Past the sampled pc, an exact pc is the frame a signal interrupted. */
	__u64 recorded = depth > 0 && walk->exact ? walk->ip | EMBER_EXACT_PC : walk->ip;
	stack->pcs[depth] = recorded;
	stack->depth = depth + 1;
	walk->hash = fnv1a(walk->hash, recorded);

	/* A return address is just past its call: the call's own row is found at ra - 1. */
	__u64 pc = walk->exact ? walk->ip : walk->ip - 1;
	__u32 outcome = find_rule(walk->memory, walk->mappings, pc);
	if (outcome != CFI_WALKING) {
		walk->outcome = outcome;
		return 1;
	}
	struct cfi_rule *found = &walk->memory->rule;
	__u32 rule = found->rule;
	__s32 cfa_offset = found->cfa_offset;
	__s16 rbp_offset = found->rbp_offset;
	__u8 plt_threshold = found->plt_threshold;

	__u64 sp = walk->sp, bp = walk->bp, cfa, ra;
	switch (rule) {
	case EMBER_RULE_CFA_SP:
		cfa = sp + cfa_offset;
		break;
	case EMBER_RULE_CFA_BP:
		cfa = bp + cfa_offset;
		break;
	case EMBER_RULE_PLT:
		cfa = sp + cfa_offset + ((walk->ip & 15) >= plt_threshold ? 8 : 0);
		break;
	case EMBER_RULE_SIGNAL: {
		/* The kernel's rt_sigframe: sp points at its ucontext, whose mcontext holds the
		 * interrupted rbp, rsp and rip at 120, 160 and 168. The interrupted pc is exact,
		 * and so is the trampoline's own (a handler "returns" to its first byte). */
		__u64 regs[7];
		if (bpf_probe_read_user(regs, sizeof(regs), (void *)(sp + 120)) != 0)
			return walk_ends(walk, EMBER_END_UNKNOWN);
		if (depth > 0 && !walk->exact) {
			stack->pcs[depth] = walk->ip | EMBER_EXACT_PC;
			walk->hash = fnv1a(walk->hash, EMBER_EXACT_PC);
		}
		walk->bp = regs[0];
		walk->sp = regs[5];
		walk->ip = regs[6];
		walk->exact = 1;
		return walk->ip == 0 ? walk_ends(walk, EMBER_END_COMPLETE) : 0;
	}
	case EMBER_RULE_OUTERMOST:
		return walk_ends(walk, EMBER_END_COMPLETE);
	case EMBER_RULE_NEEDS_COPY:
		walk->outcome = CFI_NEEDS_COPY;
		return 1;
	default:
		/* A CPython -X perf trampoline (JIT code, no CFI, no frame pointer): returned to
		 * just past `sub $8,%rsp; call *%rcx`, so its caller's return address is at rsp + 8. */
		if (!walk->exact && found->frame_pointer_code && is_perf_trampoline_return(walk->ip)) {
			cfa = sp + 16;
			rbp_offset = 0;
			break;
		}
		/* No CFI (code between FDEs, or a mapping of frame-pointer code): the frame
		 * pointer's rule, CFA = rbp + 16, rbp saved at CFA - 16. */
		if (bp == 0)
			return walk_ends(walk, EMBER_END_UNKNOWN);
		cfa = bp + 16;
		rbp_offset = -16;
		break;
	}
	struct cfi_walk_memory *memory = walk->memory;
	if (read_stack_word(memory, cfa - 8) != 0)
		return walk_ends(walk, EMBER_END_UNKNOWN);
	ra = memory->word;
	if (rbp_offset != 0) {
		if (read_stack_word(memory, cfa + rbp_offset) != 0)
			return walk_ends(walk, EMBER_END_UNKNOWN);
		walk->bp = memory->word;
	}
	/* Every caller's frame lies above its callee's: a walk that does not rise would go
	 * round in place. */
	if (cfa <= sp)
		return walk_ends(walk, EMBER_END_UNKNOWN);
	walk->sp = cfa;
	walk->ip = ra;
	walk->exact = 0;
	if (ra == 0)
		return walk_ends(walk, EMBER_END_COMPLETE);
	return 0;
}

struct comparison {
	struct ember_user_stack *a;
	struct ember_user_stack *b;
	__u32 differ;
};

static long compare_step(__u32 index, struct comparison *comparison)
{
	if (index >= comparison->a->depth)
		return 1;
	if (index >= EMBER_MAX_STACK_DEPTH)
		return 1;
	if (comparison->a->pcs[index] != comparison->b->pcs[index]) {
		comparison->differ = 1;
		return 1;
	}
	return 0;
}

static __always_inline int same_stack(struct ember_user_stack *a, struct ember_user_stack *b)
{
	if (a->depth != b->depth || a->end != b->end)
		return 0;
	struct comparison comparison = {.a = a, .b = b};
	bpf_loop(EMBER_MAX_STACK_DEPTH, compare_step, &comparison, 0);
	return !comparison.differ;
}

/* A pc in none of the process's mappings: asks user space, once per mappings it writes, to
 * read them again (a library mapped since; it sends the samples to the user-space unwinder
 * meanwhile). */
static __always_inline void ask_for_reread(struct ember_process_mappings *mappings, __u32 tgid)
{
	if (mappings->reread_asked)
		return;
	mappings->reread_asked = 1;
	struct ember_stack_sample event = {.kind = EMBER_PROCESS_UNMAPPED_CODE, .pid = tgid};
	if (bpf_ringbuf_output(&stack_samples, &event, sizeof(event), BPF_RB_FORCE_WAKEUP) != 0)
		mappings->reread_asked = 0; /* a later sample asks again */
}

/* Walks the current task's user stack with its files' unwind tables. Returns the walk's
 * outcome; when CFI_WALKED, the stack is in *walked and its hash (never 0) in *hash. */
static __always_inline __u32 walk_user_stack(struct task_struct *task, struct ember_process_mappings *mappings,
					     struct ember_user_stack **walked, __u64 *hash)
{
	__u32 zero = 0;
	struct ember_user_stack *stack = bpf_map_lookup_elem(&cfi_scratch, &zero);
	if (!stack)
		return CFI_PENDING;
	struct cfi_walk_memory *memory = bpf_map_lookup_elem(&cfi_walk_memories, &zero);
	if (!memory)
		return CFI_PENDING;
	/* Another walk's, maybe of another task (no pc is all ones). */
	memory->recent[0].pc = ~0ULL;
	memory->recent[1].pc = ~0ULL;
	memory->last_mapping = 0;
	memory->window_length = 0;
	stack->depth = 0;
	stack->end = EMBER_END_UNKNOWN;
	struct cfi_walk walk = {.mappings = mappings, .stack = stack, .memory = memory, .hash = FNV_OFFSET, .exact = 1};
	if (user_registers(task, &walk.ip, &walk.sp, &walk.bp) != 0)
		return CFI_PENDING;
	bpf_loop(EMBER_MAX_STACK_DEPTH + 1, cfi_step, &walk, 0);
	if (walk.outcome == CFI_UNMAPPED)
		ask_for_reread(mappings, task->tgid);
	if (walk.outcome != CFI_WALKED)
		return walk.outcome == CFI_WALKING ? CFI_PENDING : walk.outcome;
	__u64 value = fnv1a(walk.hash, stack->end);
	*hash = value ? value : 1;
	*walked = stack;
	return CFI_WALKED;
}

/* Keeps a walked stack in cfi_stacks under its hash. 0 if it is there (now or already). */
static __always_inline int store_walked_stack(__u64 hash, struct ember_user_stack *stack)
{
	struct ember_user_stack *stored = bpf_map_lookup_elem(&cfi_stacks, &hash);
	if (!stored) {
		if (bpf_map_update_elem(&cfi_stacks, &hash, stack, BPF_NOEXIST) == 0)
			return 0;
		stored = bpf_map_lookup_elem(&cfi_stacks, &hash); /* another CPU's, meanwhile */
		if (!stored)
			return -1;
	}
	return same_stack(stored, stack) ? 0 : -1;
}

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Names kernel addresses for user space: a program ember runs on demand (BPF_PROG_TEST_RUN)
 * on a batch of the addresses its kernel stacks hold. %ps is the kernel's own symbol lookup,
 * modules and BPF programs included, so ember need not read /proc/kallsyms, which the kernel
 * formats whole (every one of its symbols) to be read once.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "ember_profile.h"

/* In .bss, which user space has mapped: no copy in or out. */
struct ember_kernel_names request;

static long name_one(__u32 index, void *unused)
{
	if (index >= EMBER_KERNEL_NAME_BATCH)
		return 1;
	request.lengths[index] = bpf_snprintf(request.names[index], EMBER_KERNEL_NAME_SIZE, "%ps",
					      &request.addresses[index], sizeof(__u64));
	return 0;
}

SEC("syscall")
int name_kernel_addresses(void *context)
{
	__u32 count = request.count;
	if (count > EMBER_KERNEL_NAME_BATCH)
		count = EMBER_KERNEL_NAME_BATCH;
	bpf_loop(count, name_one, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

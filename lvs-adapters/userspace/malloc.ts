import { scrypt } from 'node:crypto';

/**
 * glibc gives the free top of its heap back to the kernel once more than its trim threshold (128 KiB
 * at start) lies free there. A relay that allocates and frees 64 KiB read buffers all the time then
 * trims and grows the heap at almost every read, and pays a page fault for every 4 KiB it moves
 * (measured: 3 GiB of one iperf3 stream through `lbguard run` took 375,000-490,000 faults and 8.8-12.4 s
 * of CPU; with a 32 MiB threshold 50,000-150,000 and 3.1-4.6 s). The systemd unit used to set
 * GLIBC_TUNABLES for that, which glibc reads only at exec: started any other way, the balancer ran at
 * half speed.
 *
 * glibc raises the threshold by itself (mallopt(3), dynamic mmap threshold): when a block above the
 * mmap threshold and at most 32 MiB is freed, the mmap threshold becomes its size and the trim
 * threshold twice that. One scrypt with 16 MiB of working memory (OpenSSL mallocs and frees it in one
 * block) makes both 16 and 32 MiB, in a thread of the pool, once per process. A GLIBC_TUNABLES or
 * MALLOC_TRIM_THRESHOLD_ set by hand turns the dynamic threshold off and keeps its value; on another
 * libc this costs one short hash.
 */
let raised: Promise<void> | undefined;
export function raiseMallocTrimThreshold(): Promise<void> {
  raised ??= new Promise((resolve) => scrypt('lbguard', 'malloc-trim-threshold', 16, { N: 16_384, r: 8, p: 1 }, () => resolve()));
  return raised;
}

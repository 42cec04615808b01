/**
 * hmm-tests rows on file-backed memory (a tmpfs file written with pwrite,
 * mapped MAP_SHARED or MAP_PRIVATE), through the 2018 API.
 */
import { assertEquals } from "@std/assert";
import {
  assertPattern,
  migrate,
  NPAGES,
  pattern,
  read,
  setup,
  teardown,
  WPP,
  write,
} from "./_fixture.ts";
import { ftruncate, pread, pwrite, tmpfs_create } from "../../lib/kernel/mm/shmem.ts";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../lib/kernel/mm/mm-types.ts";

const WORDS = NPAGES * WPP;

Deno.test("hmm.file_read", () => {
  const f = setup();
  const file = tmpfs_create(f.k, "/tmp/hmm");
  assertEquals(ftruncate(f.k, file, NPAGES * 4096), 0);
  assertEquals(pwrite(f.k, file, pattern(WORDS), 0), NPAGES * 4096);
  const a = f.p.mmap(0, NPAGES * 4096, PROT_READ, MAP_SHARED, file);
  const r = read(f, f.fd[0]!, a, NPAGES);
  assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 1]);
  assertPattern(r.mirror);
  teardown(f);
});

Deno.test("hmm.file_write", () => {
  const f = setup();
  const file = tmpfs_create(f.k, "/tmp/hmm");
  assertEquals(ftruncate(f.k, file, NPAGES * 4096), 0);
  const a = f.p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file);
  const w = write(f, f.fd[0]!, a, NPAGES, pattern(WORDS));
  assertEquals([w.ret, w.cpages, w.faults], [0, NPAGES, 1]);
  assertPattern(f.p.readWords(a, WORDS));
  const back = pread(f.k, file, WORDS, 0);
  assertEquals(back.length, WORDS);
  assertPattern(back, 0, 1, "the device write reached the page cache");
  teardown(f);
});

Deno.test("hmm.migrate_file_private", () => {
  // MAP_PRIVATE of a file the CPU wrote through the mapping: the COW copies are
  // private anonymous pages, and those migrate
  const f = setup();
  const file = tmpfs_create(f.k, "/tmp/hmm");
  assertEquals(ftruncate(f.k, file, NPAGES * 4096), 0);
  const a = f.p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file);
  f.p.writeWords(a, pattern(WORDS));
  const r = migrate(f, f.fd[0]!, a, NPAGES);
  assertEquals([r.ret, r.cpages], [0, NPAGES]);
  assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror);
  assertPattern(f.p.readWords(a, WORDS));
  assertPattern(pread(f.k, file, WORDS, 0), 0, 0, "the file itself is untouched (zeros)");
  teardown(f);
});

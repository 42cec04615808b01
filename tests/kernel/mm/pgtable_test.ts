/** make_device_private_entry_read (include/linux/swapops.h, v4.20): void, through a swp_entry_t pointer. */
import { assert, assertEquals } from "@std/assert";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  is_write_device_private_entry,
  make_device_private_entry,
  make_device_private_entry_read,
} from "../../../lib/kernel/mm/pgtable.ts";

Deno.test("make_device_private_entry_read(&entry) makes the entry read-only in place and returns nothing", () => {
  const entry = { v: make_device_private_entry(2 ** 22 + 5, true) };
  assert(is_write_device_private_entry(entry.v));
  const r: void = make_device_private_entry_read(entry);
  assertEquals(r, undefined);
  assert(is_device_private_entry(entry.v) && !is_write_device_private_entry(entry.v));
  assertEquals(device_private_entry_to_page(entry.v), 2 ** 22 + 5);
});

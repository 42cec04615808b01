import { assert, assertEquals, assertThrows } from "@std/assert";
import { bootMachine, machineNames } from "../../lib/machine.ts";

const BAD = new URL("./bad/", import.meta.url);

Deno.test("machine: every description in data/machines boots by name", () => {
  const names = machineNames();
  assert(names.includes("bench-64t") && names.includes("small"));
  for (const n of names) {
    const m = bootMachine(n);
    assertEquals(m.description?.name, n);
  }
});

Deno.test("machine: unknown names and unreadable paths are clear errors", () => {
  assertThrows(
    () => bootMachine("no-such-machine"),
    RangeError,
    'Cannot boot machine "no-such-machine": no such description (known: ',
  );
  assertThrows(() => bootMachine("/nonexistent/x.json"), RangeError, "the file cannot be read");
  assertThrows(() => bootMachine("small", { series: 9 }), RangeError, "Cannot use series level 9");
});

Deno.test("machine: the bad-description corpus gives the exact expected messages", () => {
  let n = 0;
  for (const e of [...Deno.readDirSync(BAD)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.name.endsWith(".json")) continue;
    const file = new URL(e.name, BAD);
    const expected = Deno.readTextFileSync(new URL(e.name.replace(/\.json$/, ".expected.txt"), BAD))
      .trimEnd();
    const err = assertThrows(() => bootMachine(JSON.parse(Deno.readTextFileSync(file))), TypeError);
    const got = err.message.split("\n").slice(1).join("\n");
    assertEquals(got, expected, e.name);
    assert(!/\n\s+at /.test(err.message), "never a stack trace");
    n++;
  }
  assert(n >= 20, `corpus has ${n} cases`);
});

Deno.test("machine: boot registers System RAM in iomem and brings its sections up", async () => {
  const {
    iomemTree,
    region_intersects,
    IORESOURCE_SYSTEM_RAM,
    IORES_DESC_NONE,
    REGION_INTERSECTS,
    REGION_DISJOINT,
  } = await import("../../lib/kernel/resource.ts");
  const { sectionState } = await import("../../lib/kernel/mm/section-info.ts");
  const m = bootMachine("small");
  const GiB = 2 ** 30;
  assert(iomemTree(m.k).includes("System RAM"));
  assertEquals(
    region_intersects(m.k, 1 * GiB, 128 * 2 ** 20, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE),
    REGION_INTERSECTS,
  );
  assertEquals(
    region_intersects(m.k, 16 * GiB, 128 * 2 ** 20, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE),
    REGION_DISJOINT,
  );
  const s = sectionState(m.k, 8); // 1 GiB / 128 MiB
  assert(s.present && s.online, JSON.stringify(s));
  assertEquals(sectionState(m.k, 16 * 8).present, false);
});

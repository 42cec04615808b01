/** nouveau_bo_pin / nouveau_bo_unpin (nouveau_bo.h, v5.2): int returns, the pin count. */
import { assertEquals } from "@std/assert";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import {
  nouveau_bo_new,
  nouveau_bo_pin,
  nouveau_bo_unpin,
  NouveauBo,
  VRAM_GRANULE,
  VramManager,
} from "../../../lib/drivers/gpu/bo.ts";

Deno.test("nouveau_bo_pin and nouveau_bo_unpin return int 0, as int nouveau_bo_pin(...) / int nouveau_bo_unpin(struct nouveau_bo *) do", () => {
  const k = new Kernel({ seed: 1 });
  const bo = nouveau_bo_new(k, new VramManager(4 * VRAM_GRANULE), VRAM_GRANULE);
  if (!(bo instanceof NouveauBo)) throw new Error(`nouveau_bo_new: ${bo}`);
  assertEquals(nouveau_bo_pin(k, bo), 0);
  assertEquals(bo.pin_refcnt, 1);
  assertEquals(nouveau_bo_unpin(k, bo), 0);
  assertEquals(bo.pin_refcnt, 0);
});

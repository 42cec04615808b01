/**
 * An ndctl-like command set over the NVDIMM buses of one booted machine:
 * list, create-namespace (also `-e` reconfiguration), destroy-namespace,
 * enable/disable-namespace and -region, zero-labels, read-labels,
 * inject-error (with --uninject, --status, --no-notify), start-scrub,
 * wait-scrub, clear-errors, and the badblocks a block device or region
 * reports. Option defaults and validation follow ndctl v63 (Dec 2018)
 * ndctl/namespace.c; the kernel side follows libnvdimm v4.20
 * (namespace_devs.c size_store: multiples of 4 KiB × ways, -ENOSPC; pmem
 * allocations contiguous, lowest first).
 *
 * Commands return `{ ok: true, ... }` or `{ ok: false, rc, error }` with
 * ndctl's message — a failing command is an outcome, not misuse. Wrong
 * argument types throw.
 *
 * Drivers are bound through {@link Ndctl.binder} (the drivers step plugs
 * pmem and dax_pmem in there); without one, enabling a namespace runs the
 * libnvdimm half only.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import type { BadblocksEntry } from "./badrange.ts";
import type { NvdimmBus } from "./bus.ts";
import {
  type NamespaceLabel,
  NVDIMM_BTT_GUID,
  NVDIMM_DAX_GUID,
  NVDIMM_PFN_GUID,
  pmemTypeGuid,
  readLabels,
  writeLabels,
  zeroLabels,
} from "./label.ts";
import {
  type ClaimClass,
  disableNamespace,
  enableNamespace,
  Namespace,
  type NamespaceMode,
  NdClaim,
  nsioPopulate,
} from "./namespace.ts";
import { PFN_MODE_PMEM, PFN_MODE_RAM, PFN_SUPPORTED_ALIGNMENTS } from "./pfn.ts";
import type { NdRegion } from "./region.ts";
import { guidParse, guidString, uuidEqual, uuidGenerate, uuidParse, uuidString } from "./uuid.ts";

const EINVAL = -22, ENXIO = -6, EBUSY = -16, ENOSPC = -28, EAGAIN = -11, ENODEV = -19;
const SZ_2M = 2 ** 21;

/** A successful command's result. */
export type NdctlOk<T> = { ok: true; rc: 0 } & T;
/** A failed command: the errno and ndctl's message. */
export interface NdctlFail {
  /** Discriminant. */
  ok: false;
  /** -errno. */
  rc: number;
  /** What ndctl printed. */
  error: string;
}
/** What a command returns. */
export type NdctlResult<T = Record<never, never>> = NdctlOk<T> | NdctlFail;

/** ndctl list's JSON for one namespace. */
export interface NamespaceInfo {
  /** "namespace0.0". */
  dev: string;
  /** "raw", "fsdax" or "devdax". */
  mode: NamespaceMode;
  /** "mem" or "dev" for fsdax/devdax. */
  map?: "mem" | "dev";
  /** Usable bytes (the pfn/dax size for fsdax/devdax). */
  size: number;
  /** Namespace uuid (absent for label-less). */
  uuid?: string;
  /** Mapping alignment (fsdax/devdax). */
  align?: number;
  /** The pmem block device (raw/fsdax). */
  blockdev?: string;
  /** The device-dax instance (devdax). */
  chardev?: string;
  /** Alt name. */
  name?: string;
  /** "disabled" when not enabled. */
  state?: "disabled";
}

/** Options of {@link Ndctl.createNamespace} (ndctl create-namespace). */
export interface CreateNamespaceOptions {
  /** -b: bus (name or provider). */
  bus?: string;
  /** -r: region name. */
  region?: string;
  /** -t: namespace type; only "pmem" is modelled (BLK regions are not). */
  type?: "pmem";
  /** -e: the namespace to reconfigure. */
  reconfigure?: string;
  /** -f: reconfigure even if active. */
  force?: boolean;
  /** -m: raw, fsdax, devdax ("memory"/"dax" accepted). */
  mode?: string;
  /** -M: mem or dev. */
  map?: "mem" | "dev";
  /** -a: 4K, 2M or 1G (bytes or a size string). */
  align?: number | string;
  /** -s: bytes or a size string. */
  size?: number | string;
  /** -n: alt name. */
  name?: string;
  /** -u: uuid. */
  uuid?: string;
}

/** Options of {@link Ndctl.injectError}. */
export interface InjectErrorOptions {
  /** -B: first 512-byte block, namespace-relative. */
  block?: number;
  /** -n: blocks. */
  count?: number;
  /** --no-notify when false (default true). */
  notify?: boolean;
  /** -d: uninject. */
  uninject?: boolean;
  /** -S: inject the whole block, not one clear unit. */
  saturate?: boolean;
}

/**
 * What the drivers layer plugs in to bind and unbind the real drivers
 * (lib/drivers/nvdimm/bind.ts). Both run kernel code to quiescence.
 */
export interface NamespaceBinder {
  /**
   * Called after the libnvdimm half of enabling succeeded: binds the
   * driver. 0, or -errno (then the namespace is disabled again); -EINTR
   * when the probe did not return (its task is blocked).
   */
  enable(ns: Namespace): number;
  /**
   * Called before a namespace is disabled: unbinds the driver. 0 when the
   * unbind finished; -EINTR when it did not return (its task is blocked:
   * the namespace stays enabled until the unbind finishes, which then
   * disables it).
   */
  disable(ns: Namespace): number;
}

interface RegionState {
  region: NdRegion;
  bus: NvdimmBus;
  namespaces: Namespace[];
  nextNsId: number;
  nextPfnId: number;
  nextDaxId: number;
}

const fail = (rc: number, error: string): NdctlFail => ({ ok: false, rc, error });

/**
 * ndctl's parse_size64: a number of bytes, or digits with an optional binary
 * suffix K, M, G or T (also KiB ... TiB); null when it is not one.
 */
export function parseNdctlSize(v: number | string): number | null {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : null;
  const m = /^\s*(\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(v);
  if (!m) return null;
  const mult = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase()]!;
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : null;
}

const CLAIM_GUIDS: Record<ClaimClass, string | null> = {
  none: null,
  pfn: NVDIMM_PFN_GUID,
  dax: NVDIMM_DAX_GUID,
  btt: NVDIMM_BTT_GUID,
};

/** ndctl over every NVDIMM bus of one booted machine. */
export class Ndctl {
  /** The buses. */
  readonly buses: readonly NvdimmBus[];
  /** Driver binding hooks (null: libnvdimm half only). */
  binder: NamespaceBinder | null;
  readonly #k: Kernel;
  readonly #regions: RegionState[] = [];

  /**
   * Builds the kernel's namespace devices for every region from labels and
   * info blocks, and enables every namespace with a size (as the bus probe
   * does at boot).
   * @param k the booted kernel.
   * @param buses the machine's buses (already attached to `k`).
   * @param binder the drivers' hooks (null: libnvdimm half only).
   */
  constructor(k: Kernel, buses: readonly NvdimmBus[], binder: NamespaceBinder | null = null) {
    this.#k = k;
    this.buses = buses;
    this.binder = binder;
    for (const bus of buses) {
      for (const region of bus.regions) {
        const st: RegionState = {
          region,
          bus,
          namespaces: [],
          nextNsId: 0,
          nextPfnId: 0,
          nextDaxId: 0,
        };
        this.#regions.push(st);
        this.#scan(st);
      }
      bus.onScrubDone = () => {
        for (const st of this.#regions) {
          if (st.bus !== bus) continue;
          for (const ns of st.namespaces) {
            if (!ns.active) continue;
            nsioPopulateKeep(ns);
            ns.disk?.repopulate();
          }
        }
      };
    }
  }

  // ---------------------------------------------------------------- scanning

  #scan(st: RegionState): void {
    const { region, bus } = st;
    st.namespaces = [];
    st.nextNsId = 0;
    if (!region.config.labels) {
      st.namespaces.push(new Namespace(region, bus, 0, "io", region.start, region.size));
      st.nextNsId = 1;
    } else {
      for (const set of this.#labelSets(region)) {
        const ns = new Namespace(region, bus, st.nextNsId++, "pmem", set.start, set.size);
        ns.uuid = set.uuid;
        ns.altName = set.name;
        ns.claimClass = set.claimClass;
        st.namespaces.push(ns);
      }
      // the seed: an idle, zero-size namespace
      st.namespaces.push(new Namespace(region, bus, st.nextNsId++, "pmem", region.start, 0));
    }
    if (!region.enabled) return;
    for (const ns of st.namespaces) {
      if (ns.size > 0) this.#enable(st, ns);
    }
  }

  /** Valid label sets of `region`, lowest DPA first. */
  #labelSets(region: NdRegion): Array<{
    uuid: Uint8Array;
    name: string;
    start: number;
    size: number;
    claimClass: ClaimClass;
  }> {
    const perDimm = region.mappings.map((m) =>
      m.dimm.labelArea === null
        ? []
        : readLabels(m.dimm.labelArea).labels.filter((l) => l.isetcookie === region.isetcookie)
    );
    const first = perDimm[0] ?? [];
    const sets = [];
    for (const l0 of first) {
      if (l0.position !== 0 || l0.nlabel !== region.ways) continue;
      const off = l0.dpa - region.mappings[0]!.dpa;
      let ok = true;
      for (let p = 1; p < region.ways; p++) {
        const lp = perDimm[p]!.find((l) => uuidEqual(l.uuid, l0.uuid));
        if (
          !lp || lp.position !== p || lp.rawsize !== l0.rawsize ||
          lp.dpa - region.mappings[p]!.dpa !== off
        ) ok = false;
      }
      if (!ok || off < 0 || off + l0.rawsize > region.mappings[0]!.size) continue;
      const g = guidString(l0.abstractionGuid);
      const claimClass: ClaimClass = g === NVDIMM_PFN_GUID
        ? "pfn"
        : g === NVDIMM_DAX_GUID
        ? "dax"
        : g === NVDIMM_BTT_GUID
        ? "btt"
        : "none";
      sets.push({
        uuid: l0.uuid,
        name: l0.name,
        start: region.start + off * region.ways,
        size: l0.rawsize * region.ways,
        claimClass,
        dpa: l0.dpa,
      });
    }
    return sets.sort((a, b) => a.dpa - b.dpa);
  }

  /** Rewrites the labels of every DIMM of `st`'s region (nd_namespace_label_update). */
  #writeLabels(st: RegionState): number {
    const { region } = st;
    for (let p = 0; p < region.ways; p++) {
      const m = region.mappings[p]!;
      const area = m.dimm.labelArea;
      if (area === null) return ENXIO;
      const others = readLabels(area).labels.filter((l) => l.isetcookie !== region.isetcookie);
      const mine: NamespaceLabel[] = st.namespaces.filter((ns) => ns.size > 0 && ns.uuid !== null)
        .map(
          (ns) => ({
            uuid: ns.uuid!,
            name: ns.altName,
            flags: 0,
            nlabel: region.ways,
            position: p,
            isetcookie: region.isetcookie,
            lbasize: 0,
            dpa: m.dpa + ns.regionOffset / region.ways,
            rawsize: ns.size / region.ways,
            slot: 0,
            typeGuid: pmemTypeGuid(),
            abstractionGuid: CLAIM_GUIDS[ns.claimClass] === null
              ? new Uint8Array(16)
              : guidParse(CLAIM_GUIDS[ns.claimClass]!),
          }),
        );
      const rc = writeLabels(area, [...others, ...mine]);
      if (rc !== 0) return rc;
    }
    return 0;
  }

  #state(name: string): RegionState | undefined {
    return this.#regions.find((s) => s.region.name === name);
  }

  #nextId(st: RegionState): (kind: "pfn" | "dax") => number {
    return (kind) => kind === "pfn" ? st.nextPfnId++ : st.nextDaxId++;
  }

  #enable(st: RegionState, ns: Namespace): number {
    const rc = enableNamespace(this.#k, ns, this.#nextId(st));
    if (rc !== 0) return rc;
    if (this.binder !== null) {
      const b = this.binder.enable(ns);
      if (b !== 0) {
        disableNamespace(ns);
        return b;
      }
    }
    return 0;
  }

  /** Unbinds and disables; 0, or the binder's -EINTR when the unbind did not return. */
  #disable(ns: Namespace): number {
    if (!ns.active) return 0;
    const rc = this.binder?.disable(ns) ?? 0;
    if (rc !== 0) return rc;
    disableNamespace(ns);
    return 0;
  }

  #hung(ns: Namespace, rc: number): NdctlFail {
    return fail(rc, `${ns.name}: disable did not return: the unbind is blocked in the kernel`);
  }

  // ---------------------------------------------------------------- queries

  /** Every namespace device (including seeds and disabled ones). */
  namespaces(): Namespace[] {
    return this.#regions.flatMap((s) => s.namespaces);
  }

  /** The namespace named `name` ("namespace0.0"), or undefined. */
  namespace(name: string): Namespace | undefined {
    return this.namespaces().find((n) => n.name === name);
  }

  /** The regions. */
  regions(): NdRegion[] {
    return this.#regions.map((s) => s.region);
  }

  /** The region named `name`, or undefined. */
  region(name: string): NdRegion | undefined {
    return this.#state(name)?.region;
  }

  /** ndctl list: namespaces with a size (`all` adds disabled ones). */
  list(opts: { all?: boolean } = {}): NamespaceInfo[] {
    return this.namespaces().filter((n) => n.size > 0 && (n.active || opts.all)).map((n) =>
      this.info(n)
    );
  }

  /** ndctl's JSON for one namespace. */
  info(ns: Namespace): NamespaceInfo {
    const out: NamespaceInfo = { dev: ns.name, mode: ns.mode, size: ns.size };
    const c = ns.claim;
    if (c !== null && c.setup !== null && c.sb !== null) {
      out.map = c.mode === PFN_MODE_PMEM ? "dev" : "mem";
      out.size = c.setup.res.end - c.setup.res.start + 1 - c.sb.dataoff;
      out.align = c.align;
    }
    if (ns.uuid !== null) out.uuid = uuidString(ns.uuid);
    if (ns.disk !== null) out.blockdev = ns.disk.name;
    if (ns.dax !== null) out.chardev = ns.dax.name;
    if (ns.altName !== "") out.name = ns.altName;
    if (!ns.active) out.state = "disabled";
    return out;
  }

  /** max_available_extent of a region: its largest free, contiguous extent. */
  maxAvailableExtent(region: NdRegion | string): number {
    const st = this.#resolveRegion(region);
    if (!st.region.config.labels) return 0;
    return Math.max(0, ...this.#freeExtents(st).map((e) => e.size));
  }

  #freeExtents(st: RegionState): Array<{ offset: number; size: number }> {
    const used = st.namespaces.filter((n) => n.size > 0).map((
      n,
    ) => [n.regionOffset, n.regionOffset + n.size])
      .sort((a, b) => a[0]! - b[0]!);
    const out: Array<{ offset: number; size: number }> = [];
    let at = 0;
    for (const [s, e] of used) {
      if (s! > at) out.push({ offset: at, size: s! - at });
      at = Math.max(at, e!);
    }
    if (at < st.region.size) out.push({ offset: at, size: st.region.size - at });
    return out;
  }

  #resolveRegion(region: NdRegion | string): RegionState {
    const st = typeof region === "string"
      ? this.#state(region)
      : this.#regions.find((s) => s.region === region);
    if (st === undefined) {
      throw new RangeError(
        `Cannot find region ${String(typeof region === "string" ? region : region.name)}`,
      );
    }
    return st;
  }

  #resolveNs(name: string): { st: RegionState; ns: Namespace } | null {
    for (const st of this.#regions) {
      const ns = st.namespaces.find((n) => n.name === name);
      if (ns) return { st, ns };
    }
    return null;
  }

  // ---------------------------------------------------------------- namespaces

  /** ndctl create-namespace (with `reconfigure`, `-e`). */
  createNamespace(opts: CreateNamespaceOptions = {}): NdctlResult<NamespaceInfo> {
    if (opts.reconfigure !== undefined) return this.#reconfigure(opts);
    const candidates = this.#regions.filter((st) =>
      (opts.bus === undefined || st.bus.name === opts.bus || st.bus.provider === opts.bus) &&
      (opts.region === undefined || st.region.name === opts.region)
    );
    let last: NdctlFail = fail(ENXIO, "failed to create namespace: no region matched");
    for (const st of candidates) {
      const p = this.#validate(st, null, opts);
      if (!p.ok) {
        last = p;
        if (p.rc === EAGAIN) continue;
        return p;
      }
      let ns: Namespace | undefined;
      if (st.region.config.labels) {
        const available = this.maxAvailableExtent(st.region);
        if (available === 0 || p.size > available) {
          last = fail(
            EAGAIN,
            `${st.region.name}: insufficient capacity size: ${p.size} avail: ${available}`,
          );
          continue;
        }
        if (p.size === 0) p.size = available;
        ns = st.namespaces.find((n) =>
          n.id === 0 && !n.active && n.size === 0 && n.claim === null
        ) ??
          st.namespaces[st.namespaces.length - 1];
      } else {
        ns = st.namespaces[0];
        if (ns === undefined || ns.active || ns.claim !== null) {
          last = fail(EAGAIN, `${st.region.name}: no idle namespace seed`);
          continue;
        }
      }
      return this.#setup(st, ns!, p);
    }
    return last;
  }

  #validate(st: RegionState, ns: Namespace | null, opts: CreateNamespaceOptions): NdctlResult<{
    size: number;
    uuid: Uint8Array;
    name: string;
    mode: NamespaceMode;
    loc: number;
    align: number;
  }> {
    const region = st.region;
    if (!region.enabled) return fail(EAGAIN, `${region.name}: disabled, skipping...`);
    let size = 0;
    if (opts.size !== undefined) {
      const s = parseNdctlSize(opts.size);
      if (s === null) return fail(EINVAL, `failed to parse namespace size '${opts.size}'`);
      size = s;
    } else if (ns !== null) size = ns.size;
    const uuid = opts.uuid !== undefined ? uuidParse(opts.uuid) : uuidGenerate(this.#k.prng);
    const name = opts.name ?? ns?.altName ?? "";
    let mode: NamespaceMode;
    if (opts.mode !== undefined) {
      const m =
        { raw: "raw", fsdax: "fsdax", memory: "fsdax", devdax: "devdax", dax: "devdax" }[opts.mode];
      if (m === undefined) return fail(EINVAL, `invalid mode '${opts.mode}'`);
      mode = m as NamespaceMode;
    } else mode = ns !== null ? ns.mode : "fsdax";
    const alignDefault = opts.align === undefined;
    let align = opts.align === undefined ? SZ_2M : parseNdctlSize(opts.align);
    if (align === null) return fail(EINVAL, `failed to parse namespace alignment '${opts.align}'`);
    if (!alignDefault && mode === "raw") {
      return fail(ENXIO, "raw mode does not support setting an alignment");
    }
    if (alignDefault && region.start % SZ_2M !== 0) align = 4096;
    if (!PFN_SUPPORTED_ALIGNMENTS.includes(align)) {
      return fail(ENXIO, `unsupported align: ${opts.align}`);
    }
    const sizeAlign = mode === "fsdax" || mode === "devdax" ? align : 4096;
    if (size % (sizeAlign * region.ways) !== 0) {
      return fail(
        EINVAL,
        `'--size=' must align to interleave-width: ${region.ways} and alignment: ${
          alignDefault ? 4096 : align
        }`,
      );
    }
    if (opts.map !== undefined && mode === "raw") {
      return fail(EINVAL, "--map only valid for an dax mode pmem namespace");
    }
    const loc = opts.map === "mem" ? PFN_MODE_RAM : PFN_MODE_PMEM;
    return { ok: true, rc: 0, size, uuid, name, mode, loc, align };
  }

  #setup(
    st: RegionState,
    ns: Namespace,
    p: {
      size: number;
      uuid: Uint8Array;
      name: string;
      mode: NamespaceMode;
      loc: number;
      align: number;
    },
  ): NdctlResult<NamespaceInfo> {
    if (ns.type === "pmem") {
      ns.uuid = p.uuid;
      ns.altName = p.name;
      const rc = this.#setSize(st, ns, p.size);
      if (rc !== 0) return fail(rc, `${ns.name}: failed to set size`);
    }
    // enforce mode (holder_class) is recorded in v1.2 labels
    ns.claimClass = p.mode === "fsdax" ? "pfn" : p.mode === "devdax" ? "dax" : "none";
    if (ns.type === "pmem") this.#writeLabels(st);
    let rc: number;
    if (p.mode === "fsdax" || p.mode === "devdax") {
      const kind = p.mode === "fsdax" ? "pfn" : "dax";
      ns.claim = new NdClaim(kind, st.region.id, this.#nextId(st)(kind), {
        uuid: uuidGenerate(this.#k.prng),
        mode: p.loc,
        align: p.align,
      });
      rc = this.#enable(st, ns);
      if (rc !== 0) ns.claim = null;
    } else {
      ns.claim = null;
      rc = this.#enable(st, ns);
    }
    if (rc !== 0) return fail(rc, `${ns.name}: failed to enable`);
    return { ok: true, rc: 0, ...this.info(ns) };
  }

  /** namespace size_store: 4 KiB × ways multiples, -ENOSPC past the largest free extent; 0 frees. */
  #setSize(st: RegionState, ns: Namespace, size: number): number {
    const region = st.region;
    if (ns.active || ns.claim !== null) return EBUSY;
    if (size % (4096 * region.ways) !== 0) return EINVAL;
    if (size === ns.size) return 0;
    if (size === 0) {
      ns.size = 0;
      ns.start = region.start;
      if (ns.id !== 0 && ns !== st.namespaces[st.namespaces.length - 1]) {
        st.namespaces.splice(st.namespaces.indexOf(ns), 1);
      }
      return 0;
    }
    if (ns.size !== 0) return EINVAL; // growing/shrinking in place is not modelled
    const ext = this.#freeExtents(st).find((e) => e.size >= size);
    if (ext === undefined) return ENOSPC;
    ns.start = region.start + ext.offset;
    ns.size = size;
    if (ns === st.namespaces[st.namespaces.length - 1]) {
      st.namespaces.push(new Namespace(region, st.bus, st.nextNsId++, "pmem", region.start, 0));
    }
    return 0;
  }

  #reconfigure(opts: CreateNamespaceOptions): NdctlResult<NamespaceInfo> {
    const found = this.#resolveNs(opts.reconfigure!);
    if (found === null) return fail(ENODEV, `${opts.reconfigure}: no such namespace`);
    const { st, ns } = found;
    const p = this.#validate(st, ns, opts);
    if (!p.ok) return p;
    const d = this.#destroy(st, ns, opts.force ?? false);
    if (!d.ok) return d;
    let target: Namespace | undefined;
    if (ns.type === "io") target = ns;
    else {
      target = st.namespaces.find((n) =>
        n.id === 0 && !n.active && n.claim === null && n.size === 0
      ) ??
        st.namespaces[st.namespaces.length - 1];
    }
    if (target === undefined) return fail(ENODEV, `${st.region.name}: no idle namespace seed`);
    return this.#setup(st, target, p);
  }

  /** ndctl destroy-namespace: refuses an active namespace without `force`. */
  destroyNamespace(name: string, opts: { force?: boolean } = {}): NdctlResult {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    return this.#destroy(found.st, found.ns, opts.force ?? false);
  }

  #destroy(st: RegionState, ns: Namespace, force: boolean): NdctlResult {
    if (st.region.readOnly) return fail(ENXIO, `${ns.name}: read-only, re-configuration disabled`);
    if (ns.active && !force) {
      return fail(EBUSY, `${ns.name} is active, specify --force for re-configuration`);
    }
    const rc = this.#disable(ns);
    if (rc !== 0) return this.#hung(ns, rc);
    if (ns.claim !== null) {
      ns.claim = null;
      this.#zeroInfoBlock(st, ns);
    }
    ns.claimClass = "none";
    if (ns.type === "pmem" && ns.size > 0) {
      this.#setSize(st, ns, 0);
      ns.uuid = null;
      ns.altName = "";
      this.#writeLabels(st);
    }
    return { ok: true, rc: 0 };
  }

  /** ndctl's zero_info_block: enable raw (force_raw) and write 8 KiB of zeros through the block device. */
  #zeroInfoBlock(st: RegionState, ns: Namespace): void {
    ns.forceRaw = true;
    if (this.#enable(st, ns) === 0 && ns.disk !== null) {
      const zero = new Uint8Array(8192);
      const cur = ns.disk.read(0, 16);
      if (typeof cur === "number" || cur.some((b) => b !== 0)) ns.disk.write(0, zero);
    }
    this.#disable(ns);
    ns.forceRaw = false;
  }

  /** ndctl disable-namespace. */
  disableNamespace(name: string): NdctlResult {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    const rc = this.#disable(found.ns);
    if (rc !== 0) return this.#hung(found.ns, rc);
    return { ok: true, rc: 0 };
  }

  /** ndctl enable-namespace (claim detection from the info block). */
  enableNamespace(name: string): NdctlResult<NamespaceInfo> {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    const rc = this.#enable(found.st, found.ns);
    if (rc !== 0) return fail(rc, `${name}: failed to enable`);
    return { ok: true, rc: 0, ...this.info(found.ns) };
  }

  /** The namespace's force_raw attribute. */
  setForceRaw(name: string, on: boolean): NdctlResult {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    if (found.ns.active) return fail(EBUSY, `${name}: is active`);
    found.ns.forceRaw = on;
    if (on) found.ns.claim = null;
    return { ok: true, rc: 0 };
  }

  // ---------------------------------------------------------------- regions and labels

  #regionsMatching(target: string, bus?: string): RegionState[] {
    return this.#regions.filter((st) =>
      (target === "all" || st.region.name === target) &&
      (bus === undefined || st.bus.name === bus || st.bus.provider === bus)
    );
  }

  /** ndctl disable-region (`all` with an optional bus filter). */
  disableRegion(target: string, opts: { bus?: string } = {}): NdctlResult<{ count: number }> {
    const sts = this.#regionsMatching(target, opts.bus);
    for (const st of sts) {
      for (const ns of st.namespaces) {
        const rc = this.#disable(ns);
        if (rc !== 0) return this.#hung(ns, rc);
      }
      st.region.enabled = false;
    }
    return { ok: true, rc: 0, count: sts.length };
  }

  /** ndctl enable-region: rescans labels and info blocks and enables the namespaces. */
  enableRegion(target: string, opts: { bus?: string } = {}): NdctlResult<{ count: number }> {
    const sts = this.#regionsMatching(target, opts.bus);
    for (const st of sts) {
      if (st.region.enabled) continue;
      st.region.enabled = true;
      st.bus.sync();
      st.region.bb.reset();
      populateRegion(st.region, st.bus);
      this.#scan(st);
    }
    return { ok: true, rc: 0, count: sts.length };
  }

  /** ndctl zero-labels: every DIMM of a disabled region (else -EBUSY). */
  zeroLabels(target: string, opts: { bus?: string } = {}): NdctlResult<{ count: number }> {
    const dimms = this.buses.filter((b) =>
      opts.bus === undefined || b.name === opts.bus || b.provider === opts.bus
    )
      .flatMap((b) => b.dimms).filter((d) => target === "all" || d.name === target);
    let count = 0;
    for (const d of dimms) {
      const busy = this.#regions.some((st) =>
        st.region.enabled && st.region.mappings.some((m) => m.dimm === d)
      );
      if (busy) return fail(EBUSY, `${d.name} is active, skipping...`);
      if (d.labelArea === null) continue;
      zeroLabels(d.labelArea);
      count++;
    }
    return { ok: true, rc: 0, count };
  }

  /** ndctl read-labels: the raw label area of a DIMM. */
  readLabels(dimm: string): NdctlResult<{ data: Uint8Array }> {
    const d = this.buses.flatMap((b) => b.dimms).find((x) => x.name === dimm);
    if (d === undefined) return fail(ENODEV, `${dimm}: no such DIMM`);
    if (d.labelArea === null) return fail(ENXIO, `${dimm}: no label area`);
    return { ok: true, rc: 0, data: d.labelArea.read(0, d.labelArea.size) };
  }

  // ---------------------------------------------------------------- errors

  /** ndctl_namespace_get_injection_bounds: the data range errors are addressed in. */
  #injectionBounds(ns: Namespace): { offset: number; size: number } {
    const c = ns.claim;
    if (c !== null && c.setup !== null && c.sb !== null) {
      const start = ns.start + c.sb.start_pad + c.sb.dataoff;
      return { offset: start, size: ns.size - c.sb.start_pad - c.sb.end_trunc - c.sb.dataoff };
    }
    return { offset: ns.start, size: ns.size };
  }

  /**
   * ndctl inject-error: injects (or with `uninject` removes) `count` errors
   * of one clear unit each (the whole 512-byte block with `saturate`) at
   * namespace block `block`, with or without notification.
   */
  injectError(name: string, opts: InjectErrorOptions): NdctlResult {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    const { ns } = found;
    if (opts.block === undefined || opts.count === undefined) {
      return fail(EINVAL, "block and count required for inject/uninject");
    }
    const b = this.#injectionBounds(ns);
    for (let i = 0; i < opts.count; i++) {
      const offset = b.offset + (opts.block + i) * 512;
      let length = 512;
      if (offset + length > b.offset + b.size) {
        return fail(EINVAL, `Injection failed at block ${(opts.block + i).toString(16)}`);
      }
      const unit = ns.bus.arsCap(b.offset, b.size).clearErrUnit;
      if (!opts.saturate && length > unit) length = unit;
      const r = opts.uninject
        ? ns.bus.uninjectError(offset, length)
        : ns.bus.injectError(offset, length, { notify: opts.notify ?? true });
      if (r.rc !== 0 || r.status !== 0) {
        return fail(
          r.rc || EINVAL,
          `${opts.uninject ? "Un-injection" : "Injection"} failed at block ${
            (opts.block + i).toString(16)
          }`,
        );
      }
    }
    return { ok: true, rc: 0 };
  }

  /** ndctl inject-error --status: injected errors inside the namespace, as merged blocks. */
  injectStatus(name: string): NdctlResult<{ badblocks: Array<{ block: number; count: number }> }> {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    const b = this.#injectionBounds(found.ns);
    const recs: Array<{ block: number; count: number }> = [];
    for (const r of found.ns.bus.injectStatus().records) {
      if (r.start < b.offset || r.start >= b.offset + b.size) continue;
      const nsOff = r.start - b.offset;
      const block = Math.floor(nsOff / 512);
      const pad = nsOff - block * 512;
      recs.push({ block, count: Math.ceil((pad + r.length) / 512) });
    }
    recs.sort((x, y) => x.block - y.block);
    const merged: Array<{ block: number; count: number }> = [];
    for (const r of recs) {
      const m = merged[merged.length - 1];
      if (m !== undefined && r.block <= m.block + m.count) {
        m.count = Math.max(m.count, r.block + r.count - m.block);
      } else merged.push({ ...r });
    }
    return { ok: true, rc: 0, badblocks: merged };
  }

  #busesMatching(bus?: string): NvdimmBus[] {
    return this.buses.filter((b) => bus === undefined || b.name === bus || b.provider === bus);
  }

  /** ndctl start-scrub. */
  startScrub(opts: { bus?: string } = {}): NdctlResult<{ buses: string[] }> {
    const bs = this.#busesMatching(opts.bus);
    for (const b of bs) b.startScrub();
    return { ok: true, rc: 0, buses: bs.map((b) => b.name) };
  }

  /** ndctl wait-scrub: advances simulated time until the scrubs are done. */
  waitScrub(opts: { bus?: string } = {}): NdctlResult<{ scrubCount: number[] }> {
    const counts = this.#busesMatching(opts.bus).map((b) => b.waitScrub());
    return { ok: true, rc: 0, scrubCount: counts };
  }

  /** The badblocks of a namespace's block device (or, for devdax/raw-less, of the namespace), as sysfs lists them. */
  badblocks(name: string): BadblocksEntry[] {
    const found = this.#resolveNs(name);
    if (found === null) throw new RangeError(`Cannot read badblocks of ${name}: no such namespace`);
    const ns = found.ns;
    ns.bus.sync();
    if (ns.disk !== null) return ns.disk.bb.entries();
    return ns.bb.entries();
  }

  /** A region's badblocks (sectors relative to the region start). */
  regionBadblocks(name: string): BadblocksEntry[] {
    const st = this.#state(name);
    if (st === undefined) throw new RangeError(`Cannot read badblocks of ${name}: no such region`);
    st.bus.sync();
    return st.region.bb.entries();
  }

  /**
   * ndctl clear-errors: for a block device, zero-writes every bad block
   * (which clears it); for devdax, issues CLEAR_ERROR over each bad range
   * through nvdimm_clear_poison. Returns the sectors cleared.
   */
  clearErrors(name: string): NdctlResult<{ cleared: number }> {
    const found = this.#resolveNs(name);
    if (found === null) return fail(ENODEV, `${name}: no such namespace`);
    const ns = found.ns;
    let cleared = 0;
    if (ns.disk !== null) {
      for (const e of ns.disk.bb.entries()) {
        const rc = ns.disk.write(e.sector, new Uint8Array(e.count * 512));
        if (rc !== 0) return fail(rc, `${name}: failed to clear sector ${e.sector}`);
        cleared += e.count;
      }
    } else if (ns.dax !== null) {
      const base = ns.dax.res.start;
      for (const e of ns.bus.badrange.clipped(base, ns.dax.res.end - base + 1)) {
        const s = Math.floor(e.start / 512) * 512,
          l = Math.ceil((e.start + e.length) / 512) * 512 - s;
        const c = ns.bus.clearPoison(s, l);
        if (c < 0) return fail(c, `${name}: failed to clear errors`);
        cleared += Math.floor(c / 512);
      }
      nsioPopulate(ns);
    }
    return { ok: true, rc: 0, cleared };
  }
}

/** Repopulates nsio->bb without dropping cleared entries (populate only adds). */
function nsioPopulateKeep(ns: Namespace): void {
  ns.bus.sync();
  const b = ns.bus;
  for (const e of b.badrange.clipped(ns.start, ns.size)) {
    const s = Math.floor((e.start - ns.start) / 512);
    ns.bb.set(s, Math.ceil((e.start + e.length - ns.start) / 512) - s);
  }
}

/** nd_region probe: region badblocks from the bus badrange. */
function populateRegion(region: NdRegion, bus: NvdimmBus): void {
  for (const e of bus.badrange.clipped(region.start, region.size)) {
    const s = Math.floor((e.start - region.start) / 512);
    region.bb.set(s, Math.ceil((e.start + e.length - region.start) / 512) - s);
  }
}

/**
 * What the dashboard knows about the chain and the node: the status
 * (chain id, height, assets) and the consortium's parameters (members and
 * regulators by name, decimals, tiers), and the name lookups built on
 * them.
 */

import type { ParametersView, StatusView } from './api';
import { call } from './rpc';

export class NodeInfo {
  readonly status: StatusView;
  readonly params: ParametersView;
  readonly #names = new Map<string, string>();

  constructor(status: StatusView, params: ParametersView) {
    this.status = status;
    this.params = params;
    for (const m of params.members) this.#names.set(m.account, m.name);
    for (const r of params.regulators) this.#names.set(r.account, r.name);
  }

  static async load(): Promise<NodeInfo> {
    const [status, params] = await Promise.all([
      call<StatusView>('hutong_status'),
      call<ParametersView>('hutong_getParameters'),
    ]);
    return new NodeInfo(status, params);
  }

  /** The same parameters with a newer status. */
  withStatus(status: StatusView): NodeInfo {
    return new NodeInfo(status, this.params);
  }

  get chainId(): string {
    return this.status.chain_id;
  }

  get assets(): string[] {
    return this.params.assets.length > 0 ? this.params.assets : this.status.assets.map((a) => a.code);
  }

  decimals(asset: string): number | undefined {
    return this.params.decimals[asset] ?? this.status.assets.find((a) => a.code === asset)?.decimals;
  }

  /** The name of an institution's or a regulator's account, or undefined. */
  nameOf(address: string): string | undefined {
    return this.#names.get(address);
  }

  /** An institution given as a name or an address, as its name where known. */
  institutionName(nameOrAddress: string | undefined): string {
    if (!nameOrAddress) return '—';
    return this.#names.get(nameOrAddress) ?? nameOrAddress;
  }

  /** The regulator whose key this is (hex), if one is. */
  regulatorOfKey(keyHex: string): { name: string; account: string } | undefined {
    return this.params.regulators.find((r) => r.key.toLowerCase() === keyHex.toLowerCase());
  }

  tierName(tier: number | null): string {
    if (tier === null) return '—';
    const t = this.params.tiers.find((x) => x.tier === tier);
    return t ? `${tier} (${t.name})` : String(tier);
  }

  institutionNames(): string[] {
    return this.params.members.map((m) => m.name);
  }
}

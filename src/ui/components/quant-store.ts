/**
 * The page's one ONNX worker (workers/onnx.worker.ts) and the export it has loaded, shared by the
 * quantization view (which exports and loads) and the outputs view (whose third column streams from
 * it). Fires `change` when the loaded export changes.
 */
import { proxy, wrap, type Remote } from 'comlink';
import type { ExportedInfo, OnnxApi, OnnxLoadInfo } from '../../../workers/onnx.worker.ts';

export interface LoadedExport {
  exported: ExportedInfo;
  loaded: OnnxLoadInfo;
}

class QuantStore extends EventTarget {
  private worker: Remote<OnnxApi> | null = null;
  private loadedExport: LoadedExport | null = null;

  /** The worker, started on first use, reading files under the app's base. */
  get api(): Remote<OnnxApi> {
    if (!this.worker) {
      this.worker = wrap<OnnxApi>(new Worker(new URL('../../../workers/onnx.worker.ts', import.meta.url), { type: 'module' }));
      void this.worker.setBase(new URL('./', document.baseURI).pathname);
    }
    return this.worker;
  }

  get current(): LoadedExport | null {
    return this.loadedExport;
  }

  set current(value: LoadedExport | null) {
    this.loadedExport = value;
    this.dispatchEvent(new Event('change'));
  }

  /** Greedy generation from the loaded export, one callback per token. */
  generate(text: string, maxNewTokens: number, onToken: (t: { id: number; text: string }) => void) {
    return this.api.generate({ text, maxNewTokens }, proxy(onToken));
  }
}

export const quantStore = new QuantStore();

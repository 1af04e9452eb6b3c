import { parseCommand, parseIds, num } from './args.ts';
import { openModel } from './open-model.ts';
import { generate } from '../engine/generate.ts';

const HELP = `usage: retort generate --model DIR (--prompt "…" | --ids 1,2,3) [options]

  --temperature T      0 = greedy (default 0)
  --top-p P            nucleus sampling (default 1)
  --top-k K            0 = off (default 0)
  --repetition-penalty R   HF semantics (default 1)
  --max-new-tokens N   (default 64)
  --seed S             (default 0)
  --chat               wrap the prompt in the tokenizer's chat template
  --json               print {"ids":[…],"text":"…"}`;

export async function generateCommand(argv: string[]): Promise<number> {
  const o = parseCommand('generate', argv, {
    model: { type: 'string' }, prompt: { type: 'string' }, ids: { type: 'string' },
    temperature: { type: 'string' }, 'top-p': { type: 'string' }, 'top-k': { type: 'string' },
    'repetition-penalty': { type: 'string' }, 'max-new-tokens': { type: 'string' }, seed: { type: 'string' },
    chat: { type: 'boolean' }, json: { type: 'boolean' },
  }, HELP);
  if (!o) return 0;
  if (!o.model) throw new Error(`--model is required\n\n${HELP}`);
  if (!o.prompt === !o.ids) throw new Error(`give exactly one of --prompt or --ids\n\n${HELP}`);
  const { model, tokenizer } = await openModel(o.model, { needTokenizer: !!o.prompt });
  const prompt = o.ids
    ? parseIds(o.ids, '--ids')
    : Int32Array.from(o.chat ? tokenizer!.applyChatTemplate([{ role: 'user', content: o.prompt! }], { addGenerationPrompt: true }).ids : tokenizer!.encode(o.prompt!));
  const out: number[] = [];
  const stream = !o.json && tokenizer;
  for await (const id of generate(model, prompt, {
    temperature: num(o.temperature, '--temperature', 0),
    topP: num(o['top-p'], '--top-p', 1),
    topK: num(o['top-k'], '--top-k', 0),
    repetitionPenalty: num(o['repetition-penalty'], '--repetition-penalty', 1),
    maxNewTokens: num(o['max-new-tokens'], '--max-new-tokens', 64),
    seed: num(o.seed, '--seed', 0),
    stopIds: tokenizer?.eosIds ?? model.spec.eosTokenIds,
    vocab: tokenizer ? Math.min(tokenizer.size, model.spec.vocabSize) : undefined,
  })) {
    out.push(id);
    if (stream) process.stdout.write(tokenizer!.decode([id], { skipSpecial: false }));
  }
  const text = tokenizer ? tokenizer.decode(out, { skipSpecial: true }) : '';
  if (o.json) console.log(JSON.stringify({ ids: out, text }));
  else if (stream) process.stdout.write('\n');
  else console.log(out.join(','));
  return 0;
}

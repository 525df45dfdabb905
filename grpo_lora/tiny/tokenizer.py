"""A character-level tokenizer that transformers and vLLM load like Qwen2's.

transformers rebuilds a `qwen2` folder's tokenizer as a byte-level BPE from `vocab.json` and
`merges.txt`; a plain character tokenizer saved as `PreTrainedTokenizerFast` then loses spaces and
newlines on reload (docs/tiny-policy.md). So the character vocabulary is written *as* a byte-level
BPE with no merges and Qwen2's pre-tokenizer: one printable ASCII character, one token.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from tokenizers.pre_tokenizers import ByteLevel
from transformers import PreTrainedTokenizerFast

# Qwen2's pre-tokenizer split pattern (from its tokenizer.json).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
EOS, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # newline + printable ASCII
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    byte_to_unicode = ByteLevel.alphabet()  # the 256 printable stand-ins, in no fixed order
    mapping = {b: ch for b, ch in zip(range(256), _bytes_to_unicode())}
    assert set(mapping.values()) == set(byte_to_unicode)
    vocab = {mapping[ord(c)]: i for i, c in enumerate(CHARS)}
    for tok in (EOS, IM_START, IM_END):
        vocab[tok] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS, IM_START, IM_END])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=EOS,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def _bytes_to_unicode() -> list[str]:
    """GPT-2's reversible byte -> printable-unicode table, in byte order (what ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]

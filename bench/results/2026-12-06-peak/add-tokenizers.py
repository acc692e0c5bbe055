# Copies bench's --random-init int8 bundles (CACHE/<name>-<hash>-int8) to OUT/{clip,caption,vqa}
# with the golden tokenizer files added to their manifests, so that the daemon can embed labels
# and decode text: python3 add-tokenizers.py CACHE OUT GOLDEN (GOLDEN: shared/golden).
import glob, hashlib, json, os, shutil, sys
cache, out, golden = sys.argv[1:4]
adds = {'clip': ('clip-vit-base-patch32-*-int8', [('clip_tokenizer/vocab.json', 'vocab'), ('clip_tokenizer/merges.txt', 'merges')]),
        'caption': ('blip-image-captioning-base-*-int8', [('bert_tokenizer/vocab.txt', 'vocab')]),
        'vqa': ('blip-vqa-base-*-int8', [('bert_tokenizer/vocab.txt', 'vocab')])}
for name, (pattern, files) in adds.items():
    dst = os.path.join(out, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(glob.glob(os.path.join(cache, pattern))[0], dst)
    m = json.load(open(os.path.join(dst, 'manifest.json')))
    for rel, role in files:
        data = open(os.path.join(golden, rel), 'rb').read()
        fn = os.path.basename(rel)
        open(os.path.join(dst, fn), 'wb').write(data)
        m['files'].append({'path': fn, 'role': role, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()})
    json.dump(m, open(os.path.join(dst, 'manifest.json'), 'w'), indent=2)

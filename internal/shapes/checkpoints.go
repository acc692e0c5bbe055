package shapes

// checkpointHashes are the content hashes (hf.Hash: weights, configs and tokenizer files) of
// the checkpoints in models/shapes, the only models this world's scenes are data for. The
// converter calibrates full int8 on rendered scenes for these and for nothing else: a model of
// natural images calibrated on flat shapes keeps too narrow activation ranges and mislabels a
// real camera's frames without a sign. A checkpoint is recognised by its content, never its
// folder, so a copy anywhere is one of them and a retrained or edited one is not.
// TestCheckpointHashes keeps the list equal to models/shapes.
var checkpointHashes = map[string]string{
	"bdc13f69e5ee7f86463ebfb713ea9bee628d5cfe4cce6cc81a2e35a40569b78b": "clip",
	"3dbeae3cf38062f336a12ff540c8d3341f595a356e6af2e8be1f8cc726e59ff2": "blip_caption",
	"42fe10d848cf6e269c9c60eace03a1d90b0c9d3662f2019acfa559fd0f2fbf5e": "blip_vqa",
	"90a07fca06db3ef77d8548641186d1c90528f4c3fc4df46966699376a38cf90d": "blip_itm",
}

// Checkpoint reports whether hash (hf.Hash of a checkpoint folder) is one of the shapes
// models, and which: the folder name under models/shapes ("clip", "blip_caption", ...).
func Checkpoint(hash string) (name string, ok bool) {
	name, ok = checkpointHashes[hash]
	return name, ok
}

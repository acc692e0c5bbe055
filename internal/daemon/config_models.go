package daemon

import (
	"os"

	"github.com/edged/edged/models"
)

// ResolveModel is what a model key of the config names: a folder (relative to the config
// file's folder) when one exists there, else the name itself, which must then be a Hugging
// Face repository id, owner/name[@revision] (see models.Resolve).
func (c *Config) ResolveModel(name string) string {
	if p := c.Resolve(name); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// checkModel says what is wrong with a model key's value: neither an existing bundle or
// checkpoint folder nor a repository id.
func (c *Config) checkModel(v *validator, field, name string) {
	p := c.ResolveModel(name)
	fi, err := os.Stat(p)
	if err != nil {
		if _, err := models.Resolve(name); err != nil {
			v.fail(field, "no folder %s, and %q is not a Hugging Face repository id (owner/name[@revision])", c.Resolve(name), name)
		}
		return
	}
	if !fi.IsDir() {
		v.fail(field, "%s is not a folder (a model bundle or a Hugging Face checkpoint)", p)
	}
}

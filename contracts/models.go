package contracts

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Model identity. Clients name a model by its name in the registry's catalog (the "model" of an
// OpenAI request); the catalog keys models by a uint32 id, which prices, vouchers and usage refer
// to, and holds the weights hash the provider's engine must load. A name therefore has to stand for
// exactly one catalog entry. The Registry contract checks ids, not names, so the rule is kept here:
// ResolveModel refuses a name the catalog lists under two ids, and nobody serves or pays for it
// until governance removes or renames one of them. Names compare as exact bytes.

var (
	// ErrUnknownModel is a model name the registry's catalog does not list.
	ErrUnknownModel = errors.New("model not in the registry's catalog")
	// ErrAmbiguousModel is a model name the catalog lists under more than one id.
	ErrAmbiguousModel = errors.New("model name listed more than once in the registry's catalog")
)

// UnknownModelError is a name the catalog does not list. It wraps ErrUnknownModel.
type UnknownModelError struct {
	Name string
}

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("model %q is not in the registry's catalog", e.Name)
}
func (e *UnknownModelError) Is(target error) bool { return target == ErrUnknownModel }

// AmbiguousModelError is a name the catalog lists under several ids. It wraps ErrAmbiguousModel.
type AmbiguousModelError struct {
	Name string
	IDs  []uint32 // every id listing Name, ascending
}

func (e *AmbiguousModelError) Error() string {
	return fmt.Sprintf("model name %q is listed under ids %v in the registry's catalog; refusing an ambiguous name", e.Name, e.IDs)
}
func (e *AmbiguousModelError) Is(target error) bool { return target == ErrAmbiguousModel }

// FindModel returns the one entry of catalog named name: an *UnknownModelError when there is none,
// an *AmbiguousModelError when there are several.
func FindModel(catalog []Model, name string) (Model, error) {
	var found []Model
	for _, m := range catalog {
		if m.Name == name {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return Model{}, &UnknownModelError{Name: name}
	case 1:
		return found[0], nil
	}
	ids := make([]uint32, len(found))
	for i, m := range found {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return Model{}, &AmbiguousModelError{Name: name, IDs: ids}
}

// ResolveModel reads the catalog (get_models) and returns the one entry named name: its id,
// weights hash and name. See FindModel for the errors.
func (c RegistryClient) ResolveModel(ctx context.Context, name string) (Model, error) {
	catalog, err := c.Models(ctx)
	if err != nil {
		return Model{}, err
	}
	return FindModel(catalog, name)
}

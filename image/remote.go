package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// openRemote reads an image from a registry. Credentials come from the
// docker config (~/.docker/config.json, $DOCKER_CONFIG) and its helpers,
// anonymous otherwise; localhost and loopback registries are spoken to
// over plain HTTP, others only when Options.Insecure says so.
func openRemote(ctx context.Context, s string, opts *Options) (*source, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(s, nopts...)
	if err != nil {
		return nil, fmt.Errorf("registry reference %q: %w", s, err)
	}
	plat, err := platformOf(opts.Platform)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(plat),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("mamori"))
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", ref, ref.Context().RegistryStr(), err)
	}
	src, err := fromV1(Registry, ref.Name(), img, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return src, nil
}

package k8s

//go:generate go run ./gencrd ../deploy/helm/mamori/crds

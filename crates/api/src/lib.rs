//! azop's API: the four custom resources in group `azop.dev`, version `v1alpha1`.

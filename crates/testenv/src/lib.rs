//! A real etcd + kube-apiserver (+ Azurite) on loopback.

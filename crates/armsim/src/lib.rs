//! azop-armsim: a local Azure Resource Manager.

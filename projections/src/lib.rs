//! Views as pure folds over stored records. Nothing here touches sled, tokio, the clock or files.

//! How an error names a setting: by the flag on the command line, by the key in a suite
//! manifest, so that the user is told what to change where they wrote it.

/// Where a setting was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    Manifest,
}

/// A setting that both the command line and a manifest case can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Inputs,
    Seed,
    Batch,
    Distribution,
    Chunk,
    Atol,
    Rtol,
    Device,
    ConvertedDevice,
    Custom,
    OriginalCustom,
    ConvertedCustom,
}

impl Setting {
    fn flag(self) -> &'static str {
        match self {
            Setting::Inputs => "--inputs",
            Setting::Seed => "--seed",
            Setting::Batch => "--batch",
            Setting::Distribution => "--distribution",
            Setting::Chunk => "--chunk",
            Setting::Atol => "--atol",
            Setting::Rtol => "--rtol",
            Setting::Device => "--device",
            Setting::ConvertedDevice => "--converted-device",
            Setting::Custom => "--custom",
            Setting::OriginalCustom => "--original-custom",
            Setting::ConvertedCustom => "--converted-custom",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Setting::Inputs => "inputs",
            Setting::Seed => "seed",
            Setting::Batch => "batch",
            Setting::Distribution => "distribution",
            Setting::Chunk => "chunk",
            Setting::Atol => "atol",
            Setting::Rtol => "rtol",
            Setting::Device => "device",
            Setting::ConvertedDevice => "converted_device",
            Setting::Custom => "custom",
            Setting::OriginalCustom => "original_custom",
            Setting::ConvertedCustom => "converted_custom",
        }
    }
}

impl Origin {
    /// `setting` as written here: `--chunk` on the command line, `chunk` in a manifest.
    pub fn name(self, setting: Setting) -> &'static str {
        match self {
            Origin::CommandLine => setting.flag(),
            Origin::Manifest => setting.key(),
        }
    }

    /// The name inside a sentence: a flag stands out by its dashes, a key needs quotes.
    pub fn quoted(self, setting: Setting) -> String {
        match self {
            Origin::CommandLine => setting.flag().to_string(),
            Origin::Manifest => format!("'{}'", setting.key()),
        }
    }
}

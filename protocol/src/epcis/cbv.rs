//! The Core Business Vocabulary 2.0's standard terms, read in every spelling EPCIS data uses:
//! bare (`shipping`, the JSON binding's), URN (`urn:epcglobal:cbv:bizstep:shipping`, the XML
//! binding's and EPCIS 1.x's), Web URI (`https://ref.gs1.org/cbv/BizStep-shipping`) and CURIE
//! (`cbv:BizStep-shipping`). Any other URI is a private vocabulary term and is kept as written.

/// A CBV vocabulary an EPCIS field takes its values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    BizStep,
    Disposition,
    BizTransactionType,
    SourceDestinationType,
    ErrorReason,
    /// Sensor measurement types (GS1 Web Vocabulary `gs1:Temperature` …).
    MeasurementType,
    SensorAlertType,
    /// Sensor value components (CBV `Comp-`).
    Component,
}

/// A vocabulary value: a standard term by its bare name, or another URI as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Standard(&'static str),
    Other(String),
}

pub const BIZ_STEPS: [&str; 41] = [
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
];

pub const DISPOSITIONS: [&str; 33] = [
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
];

pub const BIZ_TRANSACTION_TYPES: [&str; 13] = [
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

pub const SOURCE_DESTINATION_TYPES: [&str; 3] = ["owning_party", "possessing_party", "location"];

pub const ERROR_REASONS: [&str; 2] = ["did_not_occur", "incorrect_data"];

pub const MEASUREMENT_TYPES: [&str; 72] = [
    "AbsoluteHumidity",
    "AbsorbedDose",
    "AbsorbedDoseRate",
    "Acceleration",
    "Radioactivity",
    "Altitude",
    "AmountOfSubstance",
    "AmountOfSubstancePerUnitVolume",
    "Angle",
    "AngularAcceleration",
    "AngularMomentum",
    "AngularVelocity",
    "Area",
    "Capacitance",
    "Conductance",
    "Conductivity",
    "Count",
    "Density",
    "Dimensionless",
    "DoseEquivalent",
    "DoseEquivalentRate",
    "DynamicViscosity",
    "ElectricCharge",
    "ElectricCurrent",
    "ElectricCurrentDensity",
    "ElectricFieldStrength",
    "Energy",
    "Exposure",
    "Force",
    "Frequency",
    "Illuminance",
    "Inductance",
    "Irradiance",
    "KinematicViscosity",
    "Length",
    "LinearMomentum",
    "Luminance",
    "LuminousFlux",
    "LuminousIntensity",
    "MagneticFlux",
    "MagneticFluxDensity",
    "MagneticVectorPotential",
    "Mass",
    "MassConcentration",
    "MassFlowRate",
    "MassPerAreaTime",
    "MemoryCapacity",
    "MolalityOfSolute",
    "MolarEnergy",
    "MolarMass",
    "MolarVolume",
    "Power",
    "Pressure",
    "RadiantFlux",
    "RadiantIntensity",
    "RelativeHumidity",
    "Resistance",
    "Resistivity",
    "SolidAngle",
    "SpecificVolume",
    "Speed",
    "SurfaceDensity",
    "SurfaceTension",
    "Temperature",
    "Time",
    "Torque",
    "Voltage",
    "Volume",
    "VolumeFlowRate",
    "VolumeFraction",
    "VolumetricFlux",
    "Wavenumber",
];

pub const SENSOR_ALERT_TYPES: [&str; 2] = ["ALARM_CONDITION", "ERROR_CONDITION"];

pub const COMPONENTS: [&str; 14] = [
    "x",
    "y",
    "z",
    "axial_distance",
    "azimuth",
    "height",
    "spherical_radius",
    "polar_angle",
    "elevation_angle",
    "easting",
    "northing",
    "latitude",
    "longitude",
    "altitude",
];

const CBV_WEB: &str = "https://ref.gs1.org/cbv/";
const GS1_VOC: &str = "https://gs1.org/voc/";

impl Vocabulary {
    pub fn terms(self) -> &'static [&'static str] {
        match self {
            Vocabulary::BizStep => &BIZ_STEPS,
            Vocabulary::Disposition => &DISPOSITIONS,
            Vocabulary::BizTransactionType => &BIZ_TRANSACTION_TYPES,
            Vocabulary::SourceDestinationType => &SOURCE_DESTINATION_TYPES,
            Vocabulary::ErrorReason => &ERROR_REASONS,
            Vocabulary::MeasurementType => &MEASUREMENT_TYPES,
            Vocabulary::SensorAlertType => &SENSOR_ALERT_TYPES,
            Vocabulary::Component => &COMPONENTS,
        }
    }

    /// What a person calls it, for errors.
    pub fn name(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "CBV business step",
            Vocabulary::Disposition => "CBV disposition",
            Vocabulary::BizTransactionType => "CBV business transaction type",
            Vocabulary::SourceDestinationType => "CBV source/destination type",
            Vocabulary::ErrorReason => "CBV error reason",
            Vocabulary::MeasurementType => "GS1 measurement type",
            Vocabulary::SensorAlertType => "GS1 sensor alert type",
            Vocabulary::Component => "CBV component",
        }
    }

    /// The URN namespace of the XML binding, for the CBV's own vocabularies.
    fn urn(self) -> Option<&'static str> {
        match self {
            Vocabulary::BizStep => Some("urn:epcglobal:cbv:bizstep:"),
            Vocabulary::Disposition => Some("urn:epcglobal:cbv:disp:"),
            Vocabulary::BizTransactionType => Some("urn:epcglobal:cbv:btt:"),
            Vocabulary::SourceDestinationType => Some("urn:epcglobal:cbv:sdt:"),
            Vocabulary::ErrorReason => Some("urn:epcglobal:cbv:er:"),
            _ => None,
        }
    }

    /// The Web URI of a term without the term: `https://ref.gs1.org/cbv/BizStep-`.
    pub fn web_prefix(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "https://ref.gs1.org/cbv/BizStep-",
            Vocabulary::Disposition => "https://ref.gs1.org/cbv/Disp-",
            Vocabulary::BizTransactionType => "https://ref.gs1.org/cbv/BTT-",
            Vocabulary::SourceDestinationType => "https://ref.gs1.org/cbv/SDT-",
            Vocabulary::ErrorReason => "https://ref.gs1.org/cbv/ER-",
            Vocabulary::Component => "https://ref.gs1.org/cbv/Comp-",
            Vocabulary::MeasurementType | Vocabulary::SensorAlertType => GS1_VOC,
        }
    }

    fn standard(self, term: &str) -> Option<&'static str> {
        self.terms().iter().copied().find(|known| *known == term)
    }

    /// Reads a value in any spelling. A standard namespace with an unknown term is refused
    /// (a misspelling, not a private term); a bare word that is no term is refused too.
    pub fn read(self, text: &str) -> Result<Term, String> {
        if let Some(term) = self.standard(text) {
            return Ok(Term::Standard(term));
        }
        let web = self.web_prefix();
        let curie = web
            .strip_prefix(CBV_WEB)
            .map(|local| format!("cbv:{local}"))
            .unwrap_or_else(|| "gs1:".to_string());
        let gs1_voc = web
            .strip_prefix(CBV_WEB)
            .map(|local| format!("{GS1_VOC}{local}"));
        let spellings = [
            self.urn().map(str::to_string),
            Some(web.to_string()),
            Some(curie),
            gs1_voc,
        ];
        for prefix in spellings.into_iter().flatten() {
            if let Some(term) = text.strip_prefix(prefix.as_str()) {
                return self.standard(term).map(Term::Standard).ok_or_else(|| {
                    format!(
                        "{text:?} is in the {} namespace but is not one of its terms",
                        self.name()
                    )
                });
            }
        }
        if super::uri::is_uri(text) && !text.starts_with("urn:epcglobal:cbv:") {
            return Ok(Term::Other(text.to_string()));
        }
        Err(format!("{text:?} is neither a {} nor a URI", self.name()))
    }
}

impl Term {
    /// The term as the JSON binding writes it: bare if standard.
    pub fn json(&self) -> &str {
        match self {
            Term::Standard(term) => term,
            Term::Other(uri) => uri,
        }
    }
}

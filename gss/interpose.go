package gss

import "context"

// The Mechanism SPI has no mechanism argument on the calls that do not need
// one for a plain mechanism. An interposer that claims several mechanisms
// needs to know which one a call is for, as MIT's gssi_*_by_mech SPI
// variants say. An interposer implements whichever of these it
// needs; the mechglue prefers them over the plain methods whenever the call
// reaches an interposer, passing the claimed OID the caller asked for.
// Without them the plain Mechanism method is called.

// NameByMechImporter is gssi_import_name_by_mech.
type NameByMechImporter interface {
	ImportNameByMech(mech OID, value []byte, nameType OID) (MechName, error)
}

// ExportedNameByMechImporter imports the mechanism part of an exported name
// token whose OID is a claimed mechanism.
type ExportedNameByMechImporter interface {
	ImportExportedNameByMech(mech OID, blob []byte) (MechName, error)
}

// CredByMechAcquirer acquires a credential element for a claimed mechanism.
type CredByMechAcquirer interface {
	AcquireCredByMech(ctx context.Context, mech OID, req *MechCredRequest) (MechCred, error)
}

// CredByMechImporter is gssi_import_cred_by_mech.
type CredByMechImporter interface {
	ImportCredByMech(mech OID, token []byte) (MechCred, error)
}

// InitiatorByMech starts an initiator for a claimed mechanism.
type InitiatorByMech interface {
	InitSecContextByMech(mech OID, cfg *MechInitConfig) (MechContext, error)
}

// AcceptorByMech starts an acceptor for the claimed mechanism named by the
// first context token's framing.
type AcceptorByMech interface {
	AcceptSecContextByMech(mech OID, cfg *MechAcceptConfig) (MechContext, error)
}

// SecContextByMechImporter is gssi_import_sec_context_by_mech.
type SecContextByMechImporter interface {
	ImportSecContextByMech(mech OID, token []byte) (MechContext, error)
}

func (d dispatch) importName(value []byte, nameType OID) (MechName, error) {
	if i, ok := d.mech.(NameByMechImporter); ok && d.via != "" {
		return i.ImportNameByMech(d.via, value, nameType)
	}
	return d.mech.ImportName(value, nameType)
}

func (d dispatch) importExportedName(blob []byte) (MechName, error) {
	if i, ok := d.mech.(ExportedNameByMechImporter); ok && d.via != "" {
		return i.ImportExportedNameByMech(d.via, blob)
	}
	return d.mech.ImportExportedName(blob)
}

func (d dispatch) acquireCred(ctx context.Context, req *MechCredRequest) (MechCred, error) {
	if i, ok := d.mech.(CredByMechAcquirer); ok && d.via != "" {
		return i.AcquireCredByMech(ctx, d.via, req)
	}
	return d.mech.AcquireCred(ctx, req)
}

func (d dispatch) importCred(token []byte) (MechCred, error) {
	if i, ok := d.mech.(CredByMechImporter); ok && d.via != "" {
		return i.ImportCredByMech(d.via, token)
	}
	return d.mech.ImportCred(token)
}

func (d dispatch) initSecContext(cfg *MechInitConfig) (MechContext, error) {
	if i, ok := d.mech.(InitiatorByMech); ok && d.via != "" {
		return i.InitSecContextByMech(d.via, cfg)
	}
	return d.mech.InitSecContext(cfg)
}

func (d dispatch) acceptSecContext(cfg *MechAcceptConfig) (MechContext, error) {
	if i, ok := d.mech.(AcceptorByMech); ok && d.via != "" {
		return i.AcceptSecContextByMech(d.via, cfg)
	}
	return d.mech.AcceptSecContext(cfg)
}

func (d dispatch) importSecContext(token []byte) (MechContext, error) {
	if i, ok := d.mech.(SecContextByMechImporter); ok && d.via != "" {
		return i.ImportSecContextByMech(d.via, token)
	}
	return d.mech.ImportSecContext(token)
}

// Package auth provides the hub API's authentication and authorisation:
// password hashing, signed access tokens and opaque refresh tokens, login
// rate limiting, the role → permission matrix and the gin middleware that
// enforces it.
package auth

// Role is a user's role (users.role).
type Role string

// The four roles of the specification.
const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleOperator   Role = "operator"
	RoleAuditor    Role = "auditor"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleSupervisor, RoleOperator, RoleAuditor}

// ValidRole reports whether r names a role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if string(x) == r {
			return true
		}
	}
	return false
}

// Permission names one thing a request may do.
type Permission string

// Permissions. Never reuse a value for something else.
const (
	PermInfractionsRead   Permission = "infractions:read"
	PermInfractionsReview Permission = "infractions:review"  // validate / reject (or propose, with the two-person rule)
	PermInfractionsDecide Permission = "infractions:confirm" // confirm another reviewer's proposal (two-person rule)
	PermInfractionsStatus Permission = "infractions:status"  // appealed, paid
	PermEvidenceRead      Permission = "evidence:read"
	PermUsersRead         Permission = "users:read"
	PermUsersWrite        Permission = "users:write"
	PermZonesRead         Permission = "zones:read"
	PermZonesWrite        Permission = "zones:write"
	PermDevicesRead       Permission = "devices:read"
	PermDevicesWrite      Permission = "devices:write"
	PermVehiclesRead      Permission = "vehicles:read"
	PermVehiclesWrite     Permission = "vehicles:write"
	PermDriversRead       Permission = "drivers:read"
	PermDriversWrite      Permission = "drivers:write"
	PermAuditRead         Permission = "audit:read"
	PermDeadLettersRead   Permission = "deadletters:read"
	PermReportsRead       Permission = "reports:read"
	PermCamerasRead       Permission = "cameras:read"
	PermCamerasControl    Permission = "cameras:control"
)

var (
	all     = []Role{RoleAdmin, RoleSupervisor, RoleOperator, RoleAuditor}
	admin   = []Role{RoleAdmin}
	leads   = []Role{RoleAdmin, RoleSupervisor}
	staff   = []Role{RoleAdmin, RoleSupervisor, RoleOperator}
	readers = []Role{RoleAdmin, RoleAuditor}
)

// Matrix is THE permission matrix: permission → roles allowed. It is the only
// place where roles are granted anything. Auditors hold every read permission
// (including the audit log) and no write permission.
var Matrix = map[Permission][]Role{
	PermInfractionsRead:   all,
	PermInfractionsReview: staff,
	PermInfractionsDecide: leads,
	PermInfractionsStatus: leads,
	PermEvidenceRead:      all,
	PermUsersRead:         readers,
	PermUsersWrite:        admin,
	PermZonesRead:         all,
	PermZonesWrite:        leads,
	PermDevicesRead:       all,
	PermDevicesWrite:      admin,
	PermVehiclesRead:      all,
	PermVehiclesWrite:     leads,
	PermDriversRead:       all,
	PermDriversWrite:      leads,
	PermAuditRead:         readers,
	PermDeadLettersRead:   readers,
	PermReportsRead:       all,
	PermCamerasRead:       all,
	PermCamerasControl:    leads,
}

// Allowed reports whether role holds perm. Unknown permissions are denied.
func Allowed(role Role, perm Permission) bool {
	for _, r := range Matrix[perm] {
		if r == role {
			return true
		}
	}
	return false
}

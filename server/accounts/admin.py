from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from server.accounts.forms import ThrottledAdminAuthenticationForm
from server.accounts.models import ApiToken, User

# The admin's own sign-in checks passwords too, so it is counted by the same lock-out. (Its
# password change is the product's page: see server/urls.py.)
admin.site.login_form = ThrottledAdminAuthenticationForm
admin.site.register(User, UserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]

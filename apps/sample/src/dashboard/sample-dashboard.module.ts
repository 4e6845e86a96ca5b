import { Injectable, Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { DashboardBasicAuthGuard, DASHBOARD_PASSWORD } from './dashboard-basic-auth.guard';
import { SampleDashboardController } from './sample-dashboard.controller';

@Injectable()
class DashboardStartupNotice implements OnApplicationBootstrap {
  constructor(private readonly mounted: boolean) {}

  onApplicationBootstrap(): void {
    new Logger('Dashboard').log(
      this.mounted
        ? 'Dashboard mounted at /dashboard (HTTP basic auth: any user name, the password of DASHBOARD_PASSWORD)'
        : 'Dashboard not mounted: DASHBOARD_PASSWORD is not set',
    );
  }
}

/** The dashboard when `DASHBOARD_PASSWORD` is set; otherwise no route at all, and the start-up log says so. */
@Module({})
export class SampleDashboardModule {
  static fromEnv(env: NodeJS.ProcessEnv): DynamicModule {
    const password = env.DASHBOARD_PASSWORD;
    if (!password) {
      return {
        module: SampleDashboardModule,
        providers: [{ provide: DashboardStartupNotice, useFactory: () => new DashboardStartupNotice(false) }],
      };
    }
    return {
      module: SampleDashboardModule,
      controllers: [SampleDashboardController],
      providers: [
        { provide: DASHBOARD_PASSWORD, useValue: password },
        DashboardBasicAuthGuard,
        { provide: DashboardStartupNotice, useFactory: () => new DashboardStartupNotice(true) },
      ],
    };
  }
}

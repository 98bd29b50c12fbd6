import { BadRequestException, ForbiddenException, HttpException, HttpStatus, NotFoundException, ServiceUnavailableException, UnauthorizedException, ValidationPipe } from '@nestjs/common';
import { IsString } from 'class-validator';
import { RpcException } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { InvalidNotificationError, PoisonMessageError } from '../domain/errors';
import { isPoison } from '../messaging/retry';
import { KeepErrorsFilter, transportError } from './keep-errors.filter';

class Named {
  @IsString()
  name!: string;
}

describe('KeepErrorsFilter: poison or trouble for what Nest throws', () => {
  it('turns a ValidationPipe refusal into an invalid message with the validator’s words', async () => {
    const refusal = await new ValidationPipe().transform({ name: 7 }, { type: 'body', metatype: Named }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BadRequestException);
    const seen = transportError(refusal);
    expect(seen).toBeInstanceOf(InvalidNotificationError);
    expect(isPoison(seen)).toBe(true);
    expect((seen as Error).message).toBe('name must be a string');
  });

  it.each([
    ['a guard’s 403', new ForbiddenException('scope admin required'), '403 scope admin required'],
    ['a missing credential, 401', new UnauthorizedException(), '401 Unauthorized'],
    ['a 404', new NotFoundException('no such server'), '404 no such server'],
    ['a 422', new HttpException({ message: ['a', 'b'] }, HttpStatus.UNPROCESSABLE_ENTITY), '422 a; b'],
    ['what a guard that returns false throws', new RpcException('Forbidden resource'), 'Forbidden resource'],
    ['a handler’s RpcException with an object', new RpcException({ status: 'error', message: 'unknown server s-9' }), 'unknown server s-9'],
  ])('makes %s poison, dead-lettered with status and reason', (_name, e, reason) => {
    const seen = transportError(e);
    expect(seen).toBeInstanceOf(PoisonMessageError);
    expect(isPoison(seen)).toBe(true);
    expect((seen as Error).message).toBe(reason);
  });

  it.each([
    ['a 503', new ServiceUnavailableException('redis away')],
    ['a 408', new HttpException('slow', HttpStatus.REQUEST_TIMEOUT)],
    ['a 429', new HttpException('later', HttpStatus.TOO_MANY_REQUESTS)],
    ['a plain error', new Error('ECONNREFUSED')],
  ])('hands %s back unchanged, as trouble', (_name, e) => {
    const seen = transportError(e);
    expect(seen).toBe(e);
    expect(isPoison(seen)).toBe(false);
  });

  it('rethrows through an Observable, as Nest’s RPC filters must', async () => {
    const filter = new KeepErrorsFilter();
    await expect(firstValueFrom(filter.catch(new ForbiddenException('no'), {} as never))).rejects.toBeInstanceOf(PoisonMessageError);
    const trouble = new Error('down');
    await expect(firstValueFrom(filter.catch(trouble, {} as never))).rejects.toBe(trouble);
  });
});
